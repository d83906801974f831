/**
 * Which admissionregistration.k8s.io version serves ValidatingAdmissionPolicy and
 * MutatingAdmissionPolicy on each Kubernetes minor: the table in docs/admission-policies.md,
 * checked against the OpenAPI of each release (test/fixtures/admission-policy-openapi).
 */
import type { KubeVersion } from "../policy/types.js";

export type AdmissionApiVersion = "v1" | "v1beta1" | "v1alpha1";

/** The oldest minor that serves ValidatingAdmissionPolicy (v1alpha1, behind its feature gate). */
export const OLDEST_VALIDATING = { major: 1, minor: 26 } as const;

function atLeast(version: KubeVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/** v1alpha1 from 1.26 (gate ValidatingAdmissionPolicy), v1beta1 1.28-1.29 (off by default), v1 from 1.30. */
export function validatingApiVersion(version: KubeVersion): AdmissionApiVersion | null {
  if (atLeast(version, 1, 30)) return "v1";
  if (atLeast(version, 1, 28)) return "v1beta1";
  if (atLeast(version, OLDEST_VALIDATING.major, OLDEST_VALIDATING.minor)) return "v1alpha1";
  return null;
}

/**
 * 1.26's v1alpha1 is the first cut: no validationActions (a failed validation always denies), no
 * matchConditions, no messageExpression. Only errors can be expressed there, with static messages.
 */
export function isDenyOnlyValidating(version: KubeVersion): boolean {
  return version.major === 1 && version.minor === 26;
}

/** v1alpha1 1.32-1.33, v1beta1 1.34-1.35 (both off by default), v1 from 1.36; null before. */
export function mutatingApiVersion(version: KubeVersion): AdmissionApiVersion | null {
  if (atLeast(version, 1, 36)) return "v1";
  if (atLeast(version, 1, 34)) return "v1beta1";
  if (atLeast(version, 1, 32)) return "v1alpha1";
  return null;
}

/** Whether the API server serves the version without a feature gate or runtime-config. */
export function isOnByDefault(kind: "validating" | "mutating", version: KubeVersion): boolean {
  return kind === "validating" ? atLeast(version, 1, 30) : atLeast(version, 1, 36);
}
