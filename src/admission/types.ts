/**
 * AdmissionReview `admission.k8s.io/v1`, as the API server sends it and expects it back
 * (k8s.io/api/admission/v1/types.go). Only v1: v1beta1 is refused at parse time.
 */
import type { Operation as PatchOperation } from "fast-json-patch";
import type { Mode, RequestUser } from "../guardrails/index.js";
import type { Finding } from "../policy/index.js";

export type { PatchOperation };

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_REVIEW_KIND = "AdmissionReview";

export const ADMISSION_OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT"] as const;
export type AdmissionOperation = (typeof ADMISSION_OPERATIONS)[number];

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface GroupVersionResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

/** The fields of `request` stsguard reads; everything else the API server sends is ignored. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource | null;
  /** `scale` for statefulsets/scale; null for the main resource. */
  readonly subResource: string | null;
  readonly name: string;
  readonly namespace: string;
  readonly operation: AdmissionOperation;
  /** Raw JSON: never passed through a typed model. Null on DELETE. */
  readonly object: unknown;
  /** Raw JSON: the stored object on UPDATE and DELETE, null on CREATE. */
  readonly oldObject: unknown;
  readonly dryRun: boolean;
  /** Who sent the request (`userInfo`); exemptions may name users and groups. */
  readonly userInfo: RequestUser;
  /**
   * The rest of `userInfo` (its uid and extra), which a SubjectAccessReview on the user's behalf
   * must carry as well; absent when the request had none.
   */
  readonly userIdentity?: {
    readonly uid: string;
    readonly extra: Readonly<Record<string, readonly string[]>>;
  };
}

/** `metav1.Status` in a denial. kubectl prints `Error from server (<reason>): ... <message>`. */
export interface AdmissionStatus {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: AdmissionStatus;
  readonly patchType?: "JSONPatch";
  /** Standard base64 of the JSON array of RFC 6902 operations. */
  readonly patch?: string;
  readonly warnings?: readonly string[];
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: typeof ADMISSION_REVIEW_KIND;
  readonly response: AdmissionResponse;
}

/** Which webhook was called: `/mutate` fixes, `/validate` decides. */
export type AdmissionMode = "mutate" | "validate";

/** What `admit` looked at: a per-pod Service, a StatefulSet, a StatefulSet scale, or nothing of ours. */
export type AdmissionSubject = "service" | "statefulset" | "scale" | "ignored";

/** The verdict of `admit`, before it is put into an AdmissionReview. */
export interface AdmissionResult {
  readonly allowed: boolean;
  /** Set when `allowed` is false. */
  readonly status: AdmissionStatus | null;
  /** JSON Patch from the object as sent to the fixed object; empty when nothing changes. */
  readonly patch: readonly PatchOperation[];
  /** Sanitised for the `Warning` header: single line, rule id first, at most 256 characters. */
  readonly warnings: readonly string[];
  /** Every finding the engine reported (for logs and metrics), whatever the mode did with it. */
  readonly findings: readonly Finding[];
  readonly subject: AdmissionSubject;
  /** Why a StatefulSet could not be read, when that decided or shaped the answer. */
  readonly lookupFailure: string | null;
  /** The namespace's mode; null when the request is not one stsguard judges. */
  readonly guardMode: Mode | null;
  /** Names of the exemptions that turned an error of this request into a warning. */
  readonly exemptions: readonly string[];
  /**
   * In `monitor` mode, what `enforce` would have answered (the answer itself allows, untouched);
   * null in every other mode.
   */
  readonly monitored: MonitoredResult | null;
}

export interface MonitoredResult {
  readonly allowed: boolean;
  /** Operations the mutating webhook would have patched. */
  readonly patchOps: number;
}
