/**
 * The controller's writes, over the project's own HTTP transport (src/kube/client.ts): server-side
 * apply and delete of Services, Events, and the Lease of leader election. Every call resolves
 * with what the API server said; only transport faults (network, deadline) reject.
 */
import { describeApiFailure, readStatus } from "../kube/api-objects.js";
import type { KubeJsonResponse, KubeTransport } from "../kube/client.js";
import { readMap, readString } from "../policy/raw-object.js";
import { FIELD_MANAGER, type ApplyConfiguration } from "./desired-services.js";

export const APPLY_PATCH_CONTENT_TYPE = "application/apply-patch+yaml";
export const JSON_PATCH_CONTENT_TYPE = "application/json-patch+json";

export type CreateResult =
  | { readonly kind: "created"; readonly object: unknown }
  /** 409 AlreadyExists: someone else's Service has the name; nothing was written. */
  | { readonly kind: "exists"; readonly message: string }
  | { readonly kind: "refused"; readonly status: number; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

export type ApplyResult =
  | { readonly kind: "applied"; readonly object: unknown }
  /** 409 with FieldManagerConflict causes: a field the controller sets is another manager's. */
  | { readonly kind: "conflict"; readonly message: string }
  /**
   * The Service the apply named by uid is gone (409 "uid mismatch … no existing object was
   * found") or replaced by another of the same name (422 "metadata.uid … field is immutable"):
   * nothing was written; the watch brings the news.
   */
  | { readonly kind: "gone"; readonly message: string }
  /** 4xx other than those: retrying the same request cannot help (invalid, forbidden). */
  | { readonly kind: "refused"; readonly status: number; readonly message: string }
  /** 5xx, 429, or no answer: worth retrying with backoff. */
  | { readonly kind: "failed"; readonly message: string };

export type ConvertResult =
  | { readonly kind: "converted"; readonly object: unknown }
  /** The object changed since it was read (the JSON patch's test failed, 422) or is gone. */
  | { readonly kind: "stale"; readonly message: string }
  | { readonly kind: "refused"; readonly status: number; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

export type ReadResult =
  | { readonly kind: "found"; readonly object: unknown }
  | { readonly kind: "gone" }
  | { readonly kind: "failed"; readonly message: string };

export type DeleteResult =
  | { readonly kind: "deleted" }
  /** Already gone, or replaced by another object of the same name (uid precondition). */
  | { readonly kind: "gone"; readonly message: string }
  | { readonly kind: "refused"; readonly status: number; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

export interface ControllerApiOptions {
  readonly transport: KubeTransport;
  /** Deadline of each request. */
  readonly timeoutMs: number;
}

export interface ControllerApi {
  /** POST: creates the Service, or fails with "exists" when the name is taken. */
  createService(service: ApplyConfiguration, signal: AbortSignal): Promise<CreateResult>;
  /**
   * Server-side apply of `service` (never forced) onto the Service with `uid`: never onto another
   * one, and never a create.
   */
  applyService(service: ApplyConfiguration, uid: string, signal: AbortSignal): Promise<ApplyResult>;
  /** Replaces `metadata.managedFields` if the Service is still at `resourceVersion`. */
  replaceManagedFields(
    namespace: string,
    name: string,
    resourceVersion: string,
    managedFields: readonly unknown[],
    signal: AbortSignal,
  ): Promise<ConvertResult>;
  readService(namespace: string, name: string, signal: AbortSignal): Promise<ReadResult>;
  /** Deletes the Service only if it is still the object with `uid`. */
  deleteService(
    namespace: string,
    name: string,
    uid: string,
    signal: AbortSignal,
  ): Promise<DeleteResult>;
  /** Raw calls for Events, Leases and access reviews. */
  request(
    method: "GET" | "POST" | "PUT" | "PATCH",
    path: string,
    body: { contentType: string; value: unknown } | null,
    signal: AbortSignal,
  ): Promise<KubeJsonResponse>;
}

export function createControllerApi(options: ControllerApiOptions): ControllerApi {
  const { transport, timeoutMs } = options;
  const request: ControllerApi["request"] = (method, path, body, signal) =>
    method === "GET"
      ? transport.getJson(path, {}, { signal, timeoutMs })
      : transport.sendJson(
          method,
          path,
          {},
          body ?? { contentType: "application/json", value: {} },
          {
            signal,
            timeoutMs,
          },
        );

  return {
    request,
    async createService(service, signal) {
      const metadata = readMap(service, "metadata");
      const answer = await send(() =>
        transport.sendJson(
          "POST",
          servicesPath(readString(metadata, "namespace") ?? ""),
          { fieldManager: FIELD_MANAGER },
          { contentType: "application/json", value: service },
          { signal, timeoutMs },
        ),
      );
      if ("kind" in answer) return answer;
      const { status, body } = answer;
      if (status === 201) return { kind: "created", object: body };
      const message = readStatus(body)?.message ?? describeApiFailure(status, body);
      if (status === 409 && readStatus(body)?.reason === "AlreadyExists")
        return { kind: "exists", message };
      return unsuccessful(status, body);
    },
    async applyService(service, uid, signal) {
      const metadata = readMap(service, "metadata");
      const path = servicePath(
        readString(metadata, "namespace") ?? "",
        readString(metadata, "name") ?? "",
      );
      // The uid makes the apply a precondition on that very object: the API server refuses it
      // when the Service is gone (409) or is another one now (422), where without it an apply
      // would create or take over.
      const value = { ...service, metadata: { ...metadata, uid } };
      const answer = await send(() =>
        transport.sendJson(
          "PATCH",
          path,
          { fieldManager: FIELD_MANAGER },
          { contentType: APPLY_PATCH_CONTENT_TYPE, value },
          { signal, timeoutMs },
        ),
      );
      if ("kind" in answer) return answer;
      const { status, body } = answer;
      if (status === 200 || status === 201) return { kind: "applied", object: body };
      const message = readStatus(body)?.message ?? describeApiFailure(status, body);
      if (status === 409 && hasFieldManagerConflict(body)) return { kind: "conflict", message };
      if (status === 409 || (status === 422 && isUidRefusal(body)))
        return { kind: "gone", message };
      return unsuccessful(status, body);
    },
    async replaceManagedFields(namespace, name, resourceVersion, managedFields, signal) {
      const answer = await send(() =>
        transport.sendJson(
          "PATCH",
          servicePath(namespace, name),
          { fieldManager: FIELD_MANAGER },
          {
            contentType: JSON_PATCH_CONTENT_TYPE,
            value: [
              { op: "test", path: "/metadata/resourceVersion", value: resourceVersion },
              { op: "replace", path: "/metadata/managedFields", value: managedFields },
            ],
          },
          { signal, timeoutMs },
        ),
      );
      if ("kind" in answer) return answer;
      const { status, body } = answer;
      if (status === 200) return { kind: "converted", object: body };
      // A failed `test` is a 422 Invalid with a generic message on the real API server.
      if (status === 422 || status === 409 || status === 404)
        return { kind: "stale", message: describeApiFailure(status, body) };
      return unsuccessful(status, body);
    },
    async readService(namespace, name, signal) {
      const answer = await send(() =>
        transport.getJson(servicePath(namespace, name), {}, { signal, timeoutMs }),
      );
      if ("kind" in answer) return answer;
      if (answer.status === 200) return { kind: "found", object: answer.body };
      if (answer.status === 404) return { kind: "gone" };
      return { kind: "failed", message: describeApiFailure(answer.status, answer.body) };
    },
    async deleteService(namespace, name, uid, signal) {
      const answer = await send(() =>
        transport.sendJson(
          "DELETE",
          servicePath(namespace, name),
          {},
          {
            contentType: "application/json",
            value: {
              apiVersion: "v1",
              kind: "DeleteOptions",
              preconditions: { uid },
              propagationPolicy: "Background",
            },
          },
          { signal, timeoutMs },
        ),
      );
      if ("kind" in answer) return answer;
      const { status, body } = answer;
      if (status === 200 || status === 202) return { kind: "deleted" };
      const message = describeApiFailure(status, body);
      if (status === 404 || status === 409) return { kind: "gone", message };
      return isRetryable(status)
        ? { kind: "failed", message }
        : { kind: "refused", status, message };
    },
  };
}

/** A request's answer, or "failed" when no answer came (network, deadline). */
async function send(
  call: () => Promise<KubeJsonResponse>,
): Promise<KubeJsonResponse | { readonly kind: "failed"; readonly message: string }> {
  try {
    return await call();
  } catch (error: unknown) {
    return { kind: "failed", message: error instanceof Error ? error.message : String(error) };
  }
}

function unsuccessful(
  status: number,
  body: unknown,
):
  | { readonly kind: "refused"; readonly status: number; readonly message: string }
  | { readonly kind: "failed"; readonly message: string } {
  return isRetryable(status)
    ? { kind: "failed", message: describeApiFailure(status, body) }
    : {
        kind: "refused",
        status,
        message: readStatus(body)?.message ?? describeApiFailure(status, body),
      };
}

/** An apply's 409 for fields owned by other managers (not a precondition failure). */
function hasFieldManagerConflict(body: unknown): boolean {
  const causes = readMap(body, "details")?.["causes"];
  return (
    Array.isArray(causes) &&
    (causes as unknown[]).some((cause) => readString(cause, "reason") === "FieldManagerConflict")
  );
}

/** 422 "metadata.uid: Invalid value: …: field is immutable": the name is another object now. */
function isUidRefusal(body: unknown): boolean {
  const causes = readMap(body, "details")?.["causes"];
  return (
    Array.isArray(causes) &&
    (causes as unknown[]).some((cause) => readString(cause, "field") === "metadata.uid")
  );
}

export function servicesPath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`;
}

export function servicePath(namespace: string, name: string): string {
  return `${servicesPath(namespace)}/${encodeURIComponent(name)}`;
}

function isRetryable(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}
