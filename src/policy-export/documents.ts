/**
 * Every ValidatingAdmissionPolicy, MutatingAdmissionPolicy and binding stsguard can export, each
 * with the condition on the configuration under which it is part of the output. The CLI fills
 * the settings with values and keeps the documents whose condition holds; the chart generator
 * fills them with Helm expressions and wraps each document in the same condition.
 */
import {
  PREEXISTING_SUFFIX,
  SELF_CONTAINED_RULES,
  isPerPod,
  labelMutations,
  localPolicyMutation,
  message,
  violatedBefore,
  violates,
  type CelSettings,
  type SelfContainedRule,
} from "./cel.js";

/** When a document is part of the output. */
export interface Presence {
  readonly rule: SelfContainedRule;
  /** `on`: the rule's severity is not off; `preexisting`: it is error and `preexistingViolations` is warn. */
  readonly when: "on" | "preexisting";
}

export type PolicyApi = "validating" | "mutating";

export interface PolicyDocument {
  readonly api: PolicyApi;
  readonly presence: Presence;
  readonly object: Readonly<Record<string, unknown>>;
}

/** The parts of the documents that depend on the configuration, the cluster or the install. */
export interface DocumentSettings {
  readonly cel: CelSettings;
  /** A CEL bool per rule: on UPDATE, an error the stored object already had only warns. */
  readonly preexistingOnlyWarns: (rule: SelfContainedRule) => string;
  /** The binding action of a rule's policy: `Deny` for error, `Warn` for warning. */
  readonly action: (rule: SelfContainedRule) => string;
  /** e.g. `v1`. */
  readonly validatingApiVersion: string;
  readonly mutatingApiVersion: string;
  /** Object names are `<namePrefix>-<rule>`. */
  readonly namePrefix: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The bindings' `matchResources.namespaceSelector`; absent: every namespace. */
  readonly namespaceSelector?: unknown;
}

const GROUP = "admissionregistration.k8s.io";

const MATCH_CONSTRAINTS = {
  resourceRules: [
    {
      apiGroups: [""],
      apiVersions: ["v1"],
      resources: ["services"],
      operations: ["CREATE", "UPDATE"],
    },
  ],
  matchPolicy: "Equivalent",
};

const MATCH_CONDITIONS = [{ name: "per-pod-services", expression: isPerPod("object") }];

/** Shown when a messageExpression cannot be evaluated. */
const STATIC_MESSAGES: Readonly<Record<SelfContainedRule, string>> = {
  "malformed-pod-name":
    "malformed-pod-name: the statefulset.kubernetes.io/pod-name selector is not <statefulset>-<ordinal> with a plain decimal ordinal",
  "external-traffic-policy":
    "external-traffic-policy: a per-pod Service that is externally accessible needs spec.externalTrafficPolicy: Local",
  "missing-labels": "missing-labels: the Service lacks required stsguard labels",
};

/** Every document, in output order. */
export function buildPolicyDocuments(settings: DocumentSettings): PolicyDocument[] {
  const documents: PolicyDocument[] = [];
  for (const rule of SELF_CONTAINED_RULES) {
    documents.push(...validatingPair(rule, "on", settings));
    documents.push(...validatingPair(rule, "preexisting", settings));
  }
  documents.push(
    ...mutatingPair("external-traffic-policy", [localPolicyMutation(settings.cel)], settings),
    ...mutatingPair("missing-labels", labelMutations(settings.cel), settings),
  );
  return documents;
}

function metadata(name: string, settings: DocumentSettings): Record<string, unknown> {
  return { name, labels: { ...settings.labels } };
}

function validatingPair(
  rule: SelfContainedRule,
  when: Presence["when"],
  settings: DocumentSettings,
): PolicyDocument[] {
  const name = `${settings.namePrefix}-${rule}${when === "preexisting" ? "-preexisting" : ""}`;
  const now = violates(rule, "object", settings.cel);
  const before = violatedBefore(rule, settings.cel);
  const validation =
    when === "on"
      ? {
          expression: `!(${now} && !(${settings.preexistingOnlyWarns(rule)} && ${before}))`,
          messageExpression: message(rule, settings.cel),
        }
      : {
          expression: `!(${now} && ${before})`,
          messageExpression: `${message(rule, settings.cel)} + '${PREEXISTING_SUFFIX}'`,
        };
  const apiVersion = `${GROUP}/${settings.validatingApiVersion}`;
  const presence = { rule, when };
  return [
    {
      api: "validating",
      presence,
      object: {
        apiVersion,
        kind: "ValidatingAdmissionPolicy",
        metadata: metadata(name, settings),
        spec: {
          failurePolicy: "Fail",
          matchConstraints: MATCH_CONSTRAINTS,
          matchConditions: MATCH_CONDITIONS,
          validations: [
            {
              ...validation,
              message: `${STATIC_MESSAGES[rule]}${when === "preexisting" ? PREEXISTING_SUFFIX : ""}`,
              reason: "Forbidden",
            },
          ],
        },
      },
    },
    {
      api: "validating",
      presence,
      object: {
        apiVersion,
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: metadata(name, settings),
        spec: {
          policyName: name,
          validationActions: [when === "on" ? settings.action(rule) : "Warn"],
          ...matchResources(settings),
        },
      },
    },
  ];
}

function mutatingPair(
  rule: SelfContainedRule,
  expressions: readonly string[],
  settings: DocumentSettings,
): PolicyDocument[] {
  const name = `${settings.namePrefix}-${rule}`;
  const apiVersion = `${GROUP}/${settings.mutatingApiVersion}`;
  const presence = { rule, when: "on" } as const;
  return [
    {
      api: "mutating",
      presence,
      object: {
        apiVersion,
        kind: "MutatingAdmissionPolicy",
        metadata: metadata(name, settings),
        spec: {
          failurePolicy: "Fail",
          matchConstraints: MATCH_CONSTRAINTS,
          matchConditions: MATCH_CONDITIONS,
          // A later mutation (policy or webhook) may change the selector, type or labels; the
          // mutations are idempotent, so running them again is safe and puts the fixes back.
          reinvocationPolicy: "IfNeeded",
          mutations: expressions.map((expression) => ({
            patchType: "ApplyConfiguration",
            applyConfiguration: { expression },
          })),
        },
      },
    },
    {
      api: "mutating",
      presence,
      object: {
        apiVersion,
        kind: "MutatingAdmissionPolicyBinding",
        metadata: metadata(name, settings),
        spec: { policyName: name, ...matchResources(settings) },
      },
    },
  ];
}

function matchResources(settings: DocumentSettings): Record<string, unknown> {
  return settings.namespaceSelector === undefined
    ? {}
    : { matchResources: { namespaceSelector: settings.namespaceSelector } };
}
