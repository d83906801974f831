/**
 * Which admissionregistration.k8s.io version serves ValidatingAdmissionPolicy and
 * MutatingAdmissionPolicy on each Kubernetes minor (../shared/kubernetes-facts.md, section 6,
 * checked against the OpenAPI of each release).
 */
import type { KubeVersion } from "../policy/types.js";

export type AdmissionApiVersion = "v1" | "v1beta1" | "v1alpha1";

/** The oldest minor whose ValidatingAdmissionPolicy has validationActions, matchConditions and messageExpression. */
export const OLDEST_VALIDATING = { major: 1, minor: 27 } as const;

function atLeast(version: KubeVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/**
 * v1alpha1 from 1.26 (gate ValidatingAdmissionPolicy), v1beta1 1.28-1.29 (off by default), v1
 * from 1.30. 1.26's v1alpha1 has no validationActions, matchConditions or messageExpression, so
 * warnings, per-pod matching and the webhook's messages cannot be expressed there: null.
 */
export function validatingApiVersion(version: KubeVersion): AdmissionApiVersion | null {
  if (atLeast(version, 1, 30)) return "v1";
  if (atLeast(version, 1, 28)) return "v1beta1";
  if (atLeast(version, OLDEST_VALIDATING.major, OLDEST_VALIDATING.minor)) return "v1alpha1";
  return null;
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
