import { BadReviewError } from "../errors.js";
import type { RequestUser } from "../guardrails/index.js";
import { truncateText } from "../policy/echo.js";
import { isJsonMap, type JsonMap } from "../policy/raw-object.js";
import { encodePatch } from "./patch.js";
import {
  ADMISSION_API_VERSION,
  ADMISSION_OPERATIONS,
  ADMISSION_REVIEW_KIND,
  type AdmissionMode,
  type AdmissionOperation,
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionResult,
  type AdmissionReviewResponse,
  type GroupVersionKind,
  type GroupVersionResource,
} from "./types.js";

/**
 * Checks that a parsed body is an `admission.k8s.io/v1` AdmissionReview with a usable request and
 * returns the fields stsguard reads. Throws BadReviewError (HTTP 400) saying what is wrong.
 */
export function parseReview(body: unknown): AdmissionRequest {
  if (!isJsonMap(body)) {
    throw new BadReviewError(`expected an AdmissionReview JSON object, got ${describeJson(body)}`);
  }
  const { apiVersion, kind } = body;
  if (kind !== ADMISSION_REVIEW_KIND) {
    throw new BadReviewError(
      `expected kind ${ADMISSION_REVIEW_KIND}, got ${describeJson(kind)} (is this an AdmissionReview?)`,
    );
  }
  if (apiVersion !== ADMISSION_API_VERSION) {
    throw new BadReviewError(
      `AdmissionReview apiVersion ${describeJson(apiVersion)} is not supported: stsguard speaks ` +
        `only ${ADMISSION_API_VERSION}; set admissionReviewVersions: ["v1"] in the webhook configuration`,
    );
  }
  const request = body["request"];
  if (!isJsonMap(request)) {
    throw new BadReviewError(
      `AdmissionReview has no request object (request is ${describeJson(request)})`,
    );
  }
  const uid = request["uid"];
  if (typeof uid !== "string" || uid === "") {
    throw new BadReviewError(
      `request.uid must be a non-empty string, got ${describeJson(uid)}: the response must echo it`,
    );
  }
  return {
    uid,
    kind: readGroupVersionKind(request["kind"]),
    resource: readGroupVersionResource(request["resource"]),
    subResource: optionalString(request, "subResource") || null,
    name: optionalString(request, "name"),
    namespace: optionalString(request, "namespace"),
    operation: readOperation(request["operation"]),
    object: request["object"] ?? null,
    oldObject: request["oldObject"] ?? null,
    dryRun: request["dryRun"] === true,
    userInfo: readUserInfo(request["userInfo"]),
    userIdentity: readUserIdentity(request["userInfo"]),
  };
}

/** userInfo.uid and userInfo.extra (each value a list of strings), for access reviews. */
function readUserIdentity(value: unknown): NonNullable<AdmissionRequest["userIdentity"]> {
  const uid = isJsonMap(value) && typeof value["uid"] === "string" ? value["uid"] : "";
  const extra: Record<string, string[]> = {};
  const given = isJsonMap(value) ? value["extra"] : undefined;
  if (isJsonMap(given)) {
    for (const [key, values] of Object.entries(given)) {
      if (Array.isArray(values))
        extra[key] = values.filter((entry): entry is string => typeof entry === "string");
    }
  }
  return { uid, extra };
}

/**
 * `request.userInfo` (authentication/v1 UserInfo). The API server always sends it; when it is
 * missing or odd, the request counts as from nobody, so no exemption by user or group matches.
 */
function readUserInfo(value: unknown): RequestUser {
  if (!isJsonMap(value)) return { username: "", groups: [] };
  const username = typeof value["username"] === "string" ? value["username"] : "";
  const groups = Array.isArray(value["groups"])
    ? value["groups"].filter((group): group is string => typeof group === "string")
    : [];
  return { username, groups };
}

/** Wraps a verdict in the AdmissionReview the API server expects back, echoing `uid`. */
export function toReviewResponse(
  uid: string,
  result: AdmissionResult,
  mode: AdmissionMode,
): AdmissionReviewResponse {
  const response: {
    -readonly [K in keyof AdmissionResponse]: AdmissionResponse[K];
  } = { uid, allowed: result.allowed };
  if (result.status) {
    // Messages cut what they echo; this bounds the whole, however many findings it lists.
    const message = truncateText(result.status.message, MAX_STATUS_MESSAGE_CHARS);
    response.status =
      message === result.status.message ? result.status : { ...result.status, message };
  }
  // A validating webhook may not return a patch (VerifyAdmissionResponse), even an empty one.
  if (mode === "mutate" && result.patch.length > 0) {
    response.patchType = "JSONPatch";
    response.patch = encodePatch(result.patch);
  }
  if (result.warnings.length > 0) response.warnings = result.warnings;
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_REVIEW_KIND, response };
}

function readGroupVersionKind(value: unknown): GroupVersionKind {
  if (
    !isJsonMap(value) ||
    typeof value["version"] !== "string" ||
    typeof value["kind"] !== "string" ||
    !isOptionalString(value["group"])
  ) {
    throw new BadReviewError(
      `request.kind must be {group, version, kind} strings, got ${describeJson(value)}`,
    );
  }
  return { group: value["group"] ?? "", version: value["version"], kind: value["kind"] };
}

function readGroupVersionResource(value: unknown): GroupVersionResource | null {
  if (value === undefined || value === null) return null;
  if (
    !isJsonMap(value) ||
    typeof value["version"] !== "string" ||
    typeof value["resource"] !== "string" ||
    !isOptionalString(value["group"])
  ) {
    throw new BadReviewError(
      `request.resource must be {group, version, resource} strings, got ${describeJson(value)}`,
    );
  }
  return { group: value["group"] ?? "", version: value["version"], resource: value["resource"] };
}

function readOperation(value: unknown): AdmissionOperation {
  if (typeof value === "string" && (ADMISSION_OPERATIONS as readonly string[]).includes(value)) {
    return value as AdmissionOperation;
  }
  throw new BadReviewError(
    `request.operation must be one of ${ADMISSION_OPERATIONS.join(", ")}, got ${describeJson(value)}`,
  );
}

function optionalString(map: JsonMap, key: string): string {
  const value = map[key];
  if (!isOptionalString(value)) {
    throw new BadReviewError(`request.${key} must be a string, got ${describeJson(value)}`);
  }
  return value ?? "";
}

function isOptionalString(value: unknown): value is string | undefined | null {
  return value === undefined || value === null || typeof value === "string";
}

/** The API server shows `status.message` to the user as the reason the request was denied. */
export const MAX_STATUS_MESSAGE_CHARS = 4096;

/** A short, safe description of a JSON value for an error message. */
function describeJson(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
