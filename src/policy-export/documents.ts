/**
 * Every ValidatingAdmissionPolicy, MutatingAdmissionPolicy and binding stsguard can export, each
 * with the condition on the configuration under which it is part of the output. The CLI fills
 * the settings with values and keeps the documents whose condition holds; the chart generator
 * fills them with Helm expressions and wraps each document in the same condition.
 */
import { POD_NAME_LABEL } from "../policy/types.js";
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
  /**
   * `on`: the rule's severity is not off; `preexisting`: it is error and `preexistingViolations`
   * is warn; `error`: it is error (1.26, which can only deny).
   */
  readonly when: "on" | "preexisting" | "error";
}

export type PolicyApi = "validating" | "mutating";

export interface PolicyDocument {
  readonly api: PolicyApi;
  readonly presence: Presence;
  /** For Kubernetes 1.26's first v1alpha1 only; the others are for 1.27 and later. */
  readonly denyOnly: boolean;
  readonly object: Readonly<Record<string, unknown>>;
}

/** The parts of the documents that depend on the configuration, the cluster or the install. */
export interface DocumentSettings {
  readonly cel: CelSettings;
  /** A CEL bool per rule: on UPDATE, an error the stored object already had only warns. */
  readonly preexistingOnlyWarns: (rule: SelfContainedRule) => string;
  /** The binding action of a rule's policy: `Deny` for error, `Warn` for warning. */
  readonly action: (rule: SelfContainedRule) => string;
  /** Plain text for 1.26's static messages: the label prefix, and `, key=value` per fixed label. */
  readonly messageText: { readonly labelPrefix: string; readonly fixedLabels: string };
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

/**
 * 1.26's messages: static, so they name no Service and no value, but otherwise say what the
 * webhook says (src/policy/service-rules.ts), rule id first. Only 1.26 is exported there, where
 * ClusterIP with externalIPs is not externally accessible.
 */
function denyOnlyMessage(rule: SelfContainedRule, text: DocumentSettings["messageText"]): string {
  switch (rule) {
    case "malformed-pod-name":
      return (
        `malformed-pod-name: this Service selects a pod that is not "<statefulset>-<ordinal>" ` +
        `with a plain decimal ordinal, so it matches no StatefulSet pod; fix the ` +
        `${POD_NAME_LABEL} selector`
      );
    case "external-traffic-policy":
      return (
        "external-traffic-policy: this Service is LoadBalancer or NodePort without " +
        "externalTrafficPolicy Local; a per-pod Service needs Local so only the pod's node " +
        "answers and the client IP is kept; set spec.externalTrafficPolicy: Local"
      );
    case "missing-labels":
      return (
        `missing-labels: this Service lacks a required label or has it with another value ` +
        `(required: ${text.labelPrefix}/statefulset=<statefulset> and ${text.labelPrefix}/ordinal=<ordinal> ` +
        `from a well-formed ${POD_NAME_LABEL} selector${text.fixedLabels}); add them to metadata.labels`
      );
  }
}

/** Every document, in output order: those for 1.27 and later, then those for 1.26. */
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
  for (const rule of SELF_CONTAINED_RULES) documents.push(...denyOnlyPair(rule, settings));
  return documents;
}

/**
 * 1.26: a failed validation always denies and every Service is matched, so only errors are
 * exported, the per-pod condition is part of the expression, and an UPDATE of an object that
 * already broke the rule passes (where the engine only warns, unless `preexistingViolations:
 * enforce`). The verdict is the engine's "denied or not"; its warnings have no counterpart.
 */
function denyOnlyPair(rule: SelfContainedRule, settings: DocumentSettings): PolicyDocument[] {
  const name = `${settings.namePrefix}-${rule}`;
  const now = violates(rule, "object", settings.cel);
  const before = violatedBefore(rule, settings.cel);
  const apiVersion = `${GROUP}/${settings.validatingApiVersion}`;
  const presence = { rule, when: "error" } as const;
  const expression =
    `!(${isPerPod("object")})` +
    ` || !(${now} && !(${settings.preexistingOnlyWarns(rule)} && ${before}))`;
  return [
    {
      api: "validating",
      presence,
      denyOnly: true,
      object: {
        apiVersion,
        kind: "ValidatingAdmissionPolicy",
        metadata: metadata(name, settings),
        spec: {
          failurePolicy: "Fail",
          matchConstraints: MATCH_CONSTRAINTS,
          validations: [
            {
              expression,
              message: denyOnlyMessage(rule, settings.messageText),
              reason: "Forbidden",
            },
          ],
        },
      },
    },
    {
      api: "validating",
      presence,
      denyOnly: true,
      object: {
        apiVersion,
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: metadata(name, settings),
        spec: { policyName: name, ...matchResources(settings) },
      },
    },
  ];
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
      denyOnly: false,
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
      denyOnly: false,
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
      denyOnly: false,
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
      denyOnly: false,
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
