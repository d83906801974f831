/** The policies for one configuration and one Kubernetes version, as plain objects. */
import { StsguardError } from "../errors.js";
import { supportsExternalIPsPolicy } from "../policy/objects.js";
import type { KubeVersion, PolicyConfig } from "../policy/types.js";
import {
  OLDEST_VALIDATING,
  isDenyOnlyValidating,
  isOnByDefault,
  mutatingApiVersion,
  validatingApiVersion,
} from "./api-versions.js";
import { SELF_CONTAINED_RULES, celString, type CelSettings } from "./cel.js";
import { buildPolicyDocuments, type PolicyApi, type Presence } from "./documents.js";

/** The requested Kubernetes version serves none of the requested policy kinds. */
export class PolicyExportError extends StsguardError {
  constructor(message: string) {
    super("E_POLICY_EXPORT", message);
  }
}

export interface ExportOptions {
  readonly kubeVersion: KubeVersion;
  /** Both kinds by default. */
  readonly only?: PolicyApi;
}

export interface PolicyExport {
  readonly objects: readonly Readonly<Record<string, unknown>>[];
  /** Things the user must know: what was left out, which feature gate must be on. */
  readonly notes: readonly string[];
}

export const EXPORT_LABELS = Object.freeze({ "app.kubernetes.io/part-of": "stsguard" });

/** The fixed extra labels as `[key, value]` pairs; labels copied from a StatefulSet cannot be checked in CEL. */
export function fixedLabels(policy: PolicyConfig): [string, string][] {
  return policy.extraLabels.flatMap((extra) =>
    "value" in extra ? [[extra.key, extra.value] as [string, string]] : [],
  );
}

export function celSettingsFor(policy: PolicyConfig): CelSettings {
  const pairs = fixedLabels(policy);
  return {
    labelPrefix: celString(policy.labelPrefix),
    fixedLabels: `[${pairs.map(([k, v]) => `[${celString(k)}, ${celString(v)}]`).join(", ")}]`,
    fixedLabelMap: `{${pairs.map(([k, v]) => `${celString(k)}: ${celString(v)}`).join(", ")}}`,
    externalIPsAccessible: String(supportsExternalIPsPolicy(policy.kubeVersion)),
  };
}

export function isPresent(presence: Presence, policy: PolicyConfig): boolean {
  const severity = policy.severities[presence.rule];
  switch (presence.when) {
    case "on":
      return severity !== "off";
    case "preexisting":
      return severity === "error" && policy.preexistingViolations === "warn";
    case "error":
      return severity === "error";
  }
}

const describe = (v: KubeVersion): string => `${v.major}.${v.minor}`;

/** Throws PolicyExportError when the version serves none of what was asked for. */
export function exportAdmissionPolicies(
  policy: PolicyConfig,
  options: ExportOptions,
): PolicyExport {
  const version = options.kubeVersion;
  const config: PolicyConfig = { ...policy, kubeVersion: version };
  const validating = validatingApiVersion(version);
  const mutating = mutatingApiVersion(version);
  const wantValidating = options.only !== "mutating";
  const wantMutating = options.only !== "validating";
  const notes: string[] = [];
  if (wantValidating && !validating) {
    throw new PolicyExportError(
      `Kubernetes ${describe(version)} serves no ValidatingAdmissionPolicy ` +
        `(admissionregistration.k8s.io v1alpha1 from ${describe(OLDEST_VALIDATING)}, ` +
        `v1beta1 from 1.28, v1 from 1.30); use the webhook on this cluster`,
    );
  }
  if (wantMutating && !mutating) {
    const message =
      `Kubernetes ${describe(version)} serves no MutatingAdmissionPolicy ` +
      `(admissionregistration.k8s.io v1alpha1 from 1.32, v1beta1 from 1.34, v1 from 1.36)`;
    if (!wantValidating) throw new PolicyExportError(message);
    notes.push(`${message}: exporting the ValidatingAdmissionPolicies only`);
  }
  for (const [kind, served] of [
    ["validating", wantValidating ? validating : null],
    ["mutating", wantMutating ? mutating : null],
  ] as const) {
    if (served && !isOnByDefault(kind, version)) {
      const gate = kind === "validating" ? "ValidatingAdmissionPolicy" : "MutatingAdmissionPolicy";
      notes.push(
        `on Kubernetes ${describe(version)}, ${gate} ${served} needs the feature gate ${gate} ` +
          `and --runtime-config=admissionregistration.k8s.io/${served}=true on the API server`,
      );
    }
  }
  const denyOnly = isDenyOnlyValidating(version);
  if (denyOnly && wantValidating) notes.push(...denyOnlyNotes(config));
  const skipped = policy.extraLabels.filter((extra) => !("value" in extra));
  if (skipped.length > 0 && policy.severities["missing-labels"] !== "off") {
    notes.push(
      `labels copied from a StatefulSet (${skipped.map((e) => e.key).join(", ")}) cannot be ` +
        `checked in CEL, which cannot read the StatefulSet; only the webhook requires them`,
    );
  }
  const documents = buildPolicyDocuments({
    cel: celSettingsFor(config),
    messageText: {
      labelPrefix: config.labelPrefix,
      fixedLabels: fixedLabels(config)
        .map(([key, value]) => `, ${key}=${value}`)
        .join(""),
    },
    preexistingOnlyWarns: (rule) => String(isPresent({ rule, when: "preexisting" }, config)),
    action: (rule) => (config.severities[rule] === "error" ? "Deny" : "Warn"),
    validatingApiVersion: validating ?? "v1",
    mutatingApiVersion: mutating ?? "v1",
    namePrefix: "stsguard",
    labels: EXPORT_LABELS,
  });
  const objects = documents
    .filter((doc) => (doc.api === "validating" ? wantValidating : wantMutating && mutating))
    .filter((doc) => doc.denyOnly === denyOnly)
    .filter((doc) => isPresent(doc.presence, config))
    .map((doc) => doc.object);
  return { objects, notes };
}

/** What 1.26's v1alpha1 (no validationActions, matchConditions or messageExpression) loses. */
function denyOnlyNotes(policy: PolicyConfig): string[] {
  const version = describe(policy.kubeVersion);
  const notes: string[] = [];
  const warnings = SELF_CONTAINED_RULES.filter((rule) => policy.severities[rule] === "warning");
  if (warnings.length > 0) {
    notes.push(
      `left out ${warnings.join(", ")} (severity warning): Kubernetes ${version}'s ` +
        `ValidatingAdmissionPolicy v1alpha1 has no validationActions, so it can only deny, ` +
        `never warn; only the webhook warns about them`,
    );
  }
  const errors = SELF_CONTAINED_RULES.filter((rule) => policy.severities[rule] === "error");
  if (errors.length > 0 && policy.preexistingViolations === "warn") {
    notes.push(
      `on Kubernetes ${version}, an UPDATE of a Service that already broke ${errors.join(", ")} ` +
        `is allowed without the webhook's warning (preexistingViolations: warn)`,
    );
  }
  if (errors.length > 0) {
    notes.push(
      `on Kubernetes ${version} the messages are static (no messageExpression): they name ` +
        `the rule but not the Service or its values`,
    );
  }
  return notes;
}
