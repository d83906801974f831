/**
 * Approvals of expose annotations (pure, no I/O but reading the key file).
 *
 * The controller creates Services with its own rights, so it must only act on exposure asked for
 * by someone who may create Services in that namespace. At admission (src/controller/
 * approval-admission.ts) stsguard asks the API server (a SubjectAccessReview with the request's
 * userInfo) and, when the user may, adds `<prefix>/approved-exposure: v1:<mac>:<user>`: an
 * HMAC-SHA256, under a key only stsguard's pods hold, of the namespace, the StatefulSet's name,
 * the approving user and the exact value of every `<prefix>/expose*` annotation. Anyone who may
 * patch the StatefulSet can write that annotation, but not a value that checks out: the
 * controller acts only when it does. Annotations written while the webhook was down, or before it
 * was installed, carry no valid approval: the controller writes nothing for them (Event
 * ExposeNotApproved) until an entitled user's update approves them.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";
import { readMap, readString, readStringMap } from "../policy/raw-object.js";
import { exposeAnnotationKeys } from "./expose.js";

export const APPROVAL_VERSION = "v1";
/** Fewer bytes than this is not a key worth having (32: SHA-256's own size). */
export const MIN_KEY_BYTES = 32;

export function approvalAnnotationKey(labelPrefix: string): string {
  return `${labelPrefix}/approved-exposure`;
}

/** The key file's bytes (surrounding whitespace trimmed); null without a file. */
export function readApprovalKey(file: string | undefined): Buffer | null {
  if (file === undefined) return null;
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (error: unknown) {
    throw new ConfigError(
      `--approval-key-file ${file}: cannot read it: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const key = Buffer.from(text, "utf8");
  if (key.length < MIN_KEY_BYTES) {
    throw new ConfigError(
      `--approval-key-file ${file}: the key has ${key.length} bytes; give at least ${MIN_KEY_BYTES} (e.g. head -c 48 /dev/urandom | base64)`,
    );
  }
  return key;
}

/** The expose annotations of a raw StatefulSet, each key → value (absent keys left out). */
export function exposeAnnotationsOf(
  statefulSet: unknown,
  labelPrefix: string,
): Record<string, string> {
  const annotations = readStringMap(readMap(statefulSet, "metadata")?.["annotations"]);
  const keys = exposeAnnotationKeys(labelPrefix);
  const result: Record<string, string> = {};
  for (const key of [keys.expose, keys.ports, keys.serviceAnnotations]) {
    const value = annotations[key];
    if (value !== undefined) result[key] = value;
  }
  return result;
}

function mac(
  key: Buffer,
  namespace: string,
  name: string,
  user: string,
  expose: Readonly<Record<string, string>>,
): string {
  const keys = Object.keys(expose).sort();
  const message = JSON.stringify([
    APPROVAL_VERSION,
    namespace,
    name,
    user,
    keys.map((k) => [k, expose[k]]),
  ]);
  return createHmac("sha256", key).update(message).digest("base64url");
}

/** The annotation value approving `expose` on this StatefulSet, by `user`. */
export function signApproval(
  key: Buffer,
  namespace: string,
  name: string,
  user: string,
  expose: Readonly<Record<string, string>>,
): string {
  return `${APPROVAL_VERSION}:${mac(key, namespace, name, user, expose)}:${user}`;
}

export type ApprovalCheck =
  | { readonly status: "approved"; readonly by: string }
  | { readonly status: "missing" }
  | { readonly status: "invalid" };

/** Whether the StatefulSet's expose annotations carry a valid approval. */
export function checkApproval(
  key: Buffer,
  statefulSet: unknown,
  labelPrefix: string,
): ApprovalCheck {
  const metadata = readMap(statefulSet, "metadata");
  const value = readStringMap(metadata?.["annotations"])[approvalAnnotationKey(labelPrefix)];
  if (value === undefined) return { status: "missing" };
  const match = /^v1:([A-Za-z0-9_-]{43}):(.+)$/s.exec(value);
  if (!match) return { status: "invalid" };
  const [, given = "", user = ""] = match;
  const expected = mac(
    key,
    readString(metadata, "namespace") ?? "",
    readString(metadata, "name") ?? "",
    user,
    exposeAnnotationsOf(statefulSet, labelPrefix),
  );
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b)
    ? { status: "approved", by: user }
    : { status: "invalid" };
}
