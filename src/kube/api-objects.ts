/** Readers for the API server's wire format: lists, watch events and Status answers. */
import { STATUS_CODES } from "node:http";
import { isJsonMap, readMap, readString } from "../policy/raw-object.js";

export interface TypeMeta {
  readonly apiVersion: string;
  readonly kind: string;
}

/**
 * Items of a list answer carry no `apiVersion`/`kind` (only the list itself does), while the
 * policy engine recognises objects by them: put them back.
 */
export function withTypeMeta(obj: unknown, typeMeta: TypeMeta): unknown {
  if (!isJsonMap(obj)) return obj;
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...obj };
}

export interface ObjectKey {
  readonly namespace: string;
  readonly name: string;
}

export function readObjectKey(obj: unknown): ObjectKey | null {
  const metadata = readMap(obj, "metadata");
  const name = readString(metadata, "name");
  const namespace = readString(metadata, "namespace");
  return name && namespace ? { namespace, name } : null;
}

export function readResourceVersion(obj: unknown): string | undefined {
  return readString(readMap(obj, "metadata"), "resourceVersion") || undefined;
}

export const WATCH_EVENT_TYPES = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"] as const;
export type WatchEventType = (typeof WATCH_EVENT_TYPES)[number];

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: unknown;
}

function isWatchEventType(value: unknown): value is WatchEventType {
  return (WATCH_EVENT_TYPES as readonly unknown[]).includes(value);
}

/** One line of a watch stream; null when it is not a watch event we know. */
export function parseWatchEvent(line: string): WatchEvent | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isJsonMap(parsed) || !isWatchEventType(parsed["type"])) return null;
  return { type: parsed["type"], object: parsed["object"] };
}

export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  /** Set when more pages follow. */
  readonly continueToken: string | undefined;
}

export function readListPage(body: unknown): ListPage | null {
  if (!isJsonMap(body) || !Array.isArray(body["items"])) return null;
  const metadata = readMap(body, "metadata");
  const resourceVersion = readString(metadata, "resourceVersion");
  if (!resourceVersion) return null;
  const items: readonly unknown[] = body["items"];
  return {
    items,
    resourceVersion,
    continueToken: readString(metadata, "continue") || undefined,
  };
}

export interface ApiStatus {
  readonly code: number | undefined;
  readonly reason: string | undefined;
  readonly message: string | undefined;
}

/** A `kind: Status` body (an error answer, or the object of a watch ERROR event). */
export function readStatus(body: unknown): ApiStatus | null {
  if (readString(body, "kind") !== "Status" || !isJsonMap(body)) return null;
  const code = body["code"];
  return {
    code: typeof code === "number" ? code : undefined,
    reason: readString(body, "reason"),
    message: readString(body, "message"),
  };
}

/**
 * 410 Gone: the resourceVersion (or continue token) is older than the server's history. Sent as
 * an HTTP 410 or, for a watch, as a 200 stream whose ERROR event holds a Status with code 410.
 */
export function isGone(httpStatus: number, body: unknown): boolean {
  return httpStatus === 410 || readStatus(body)?.code === 410;
}

/**
 * The API server's 404 for the object `name` itself: a Status NotFound whose details name it.
 * A 404 for a path the server does not serve (a wrong prefix, a proxy) names nothing.
 */
export function isNotFound(httpStatus: number, body: unknown, name: string): boolean {
  return (
    httpStatus === 404 &&
    readStatus(body)?.reason === "NotFound" &&
    readString(readMap(body, "details"), "name") === name
  );
}

/** "HTTP 403 Forbidden: statefulsets.apps "web" is forbidden: ..." */
export function describeApiFailure(httpStatus: number, body: unknown): string {
  const status = readStatus(body);
  const reason = status?.reason ?? STATUS_CODES[httpStatus] ?? "error";
  const head = httpStatus > 0 ? `HTTP ${httpStatus} ${reason}` : reason;
  return status?.message ? `${head}: ${status.message}` : head;
}
