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

/**
 * Sent as `metadata.uid` when the controller means to create a Service. The API server gives a new
 * object its own uid (whatever the request said), but refuses to change the uid of an existing one
 * (422 "field is immutable"): so an apply meant as a create can never take over a Service someone
 * made in the meantime, and an apply meant for our Service never touches a replacement of it.
 */
export const CREATE_ONLY_UID = "00000000-0000-0000-0000-000000000000";

export type ApplyResult =
  | { readonly kind: "applied"; readonly created: boolean; readonly object: unknown }
  /** 409: a field the controller sets is owned by another manager with another value. */
  | { readonly kind: "conflict"; readonly message: string }
  /** 4xx other than 409/429: retrying the same request cannot help (invalid, forbidden, replaced). */
  | { readonly kind: "refused"; readonly status: number; readonly message: string }
  /** 5xx, 429, or no answer: worth retrying with backoff. */
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
  /** Server-side apply of `service` (never forced); `expectedUid` guards what is written. */
  applyService(
    service: ApplyConfiguration,
    expectedUid: string,
    signal: AbortSignal,
  ): Promise<ApplyResult>;
  /** Deletes the Service only if it is still the object with `uid`. */
  deleteService(
    namespace: string,
    name: string,
    uid: string,
    signal: AbortSignal,
  ): Promise<DeleteResult>;
  /** Raw calls for Events and Leases. */
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
    async applyService(service, expectedUid, signal) {
      const metadata = readMap(service, "metadata");
      const path = servicePath(
        readString(metadata, "namespace") ?? "",
        readString(metadata, "name") ?? "",
      );
      const value = { ...service, metadata: { ...metadata, uid: expectedUid } };
      let answer: KubeJsonResponse;
      try {
        answer = await transport.sendJson(
          "PATCH",
          path,
          { fieldManager: FIELD_MANAGER },
          { contentType: APPLY_PATCH_CONTENT_TYPE, value },
          { signal, timeoutMs },
        );
      } catch (error: unknown) {
        return { kind: "failed", message: error instanceof Error ? error.message : String(error) };
      }
      const { status, body } = answer;
      if (status === 200 || status === 201)
        return { kind: "applied", created: status === 201, object: body };
      const message = readStatus(body)?.message ?? describeApiFailure(status, body);
      if (status === 409) return { kind: "conflict", message };
      return isRetryable(status)
        ? { kind: "failed", message: describeApiFailure(status, body) }
        : { kind: "refused", status, message };
    },
    async deleteService(namespace, name, uid, signal) {
      let answer: KubeJsonResponse;
      try {
        answer = await transport.sendJson(
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
        );
      } catch (error: unknown) {
        return { kind: "failed", message: error instanceof Error ? error.message : String(error) };
      }
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

export function servicePath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
}

function isRetryable(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}
