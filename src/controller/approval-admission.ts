/**
 * At admission (the mutating webhook, for StatefulSets): a create or update that adds or changes
 * a `<prefix>/expose*` annotation asks stsguard's controller to create Services on the user's
 * behalf, so it is allowed only when that user may create Services in the namespace. The API
 * server is asked with a SubjectAccessReview carrying the request's userInfo (user, uid, groups,
 * extra); when it says yes the answer adds the approval the controller checks (approval.ts), when
 * it says no the request is denied, naming the missing right.
 */
import type { Logger } from "pino";
import type { AdmissionRequest, AdmissionResult } from "../admission/types.js";
import { describeApiFailure } from "../kube/api-objects.js";
import type { KubeTransport } from "../kube/client.js";
import { readMap } from "../policy/raw-object.js";
import {
  approvalAnnotationKey,
  checkApproval,
  exposeAnnotationsOf,
  signApproval,
} from "./approval.js";

export interface ExposeApprovalOptions {
  readonly transport: KubeTransport;
  readonly key: Buffer;
  /** The label prefix now (it names the annotations). */
  readonly labelPrefix: () => string;
  readonly logger: Logger;
  /** Deadline of the SubjectAccessReview; the API server's webhook timeout is 5 s by default. */
  readonly timeoutMs?: number;
}

export type ExposeApproval = (request: AdmissionRequest) => Promise<AdmissionResult>;

const BASE: AdmissionResult = Object.freeze({
  allowed: true,
  status: null,
  patch: [],
  warnings: [],
  findings: [],
  subject: "statefulset",
  lookupFailure: null,
  guardMode: null,
  exemptions: [],
  monitored: null,
});

export function createExposeApproval(options: ExposeApprovalOptions): ExposeApproval {
  const { transport, key, logger } = options;
  const log = logger.child({ component: "expose-approval" });

  const mayCreateServices = async (
    request: AdmissionRequest,
  ): Promise<{ allowed: boolean; reason: string } | { failed: string }> => {
    const review = {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: request.userInfo.username,
        groups: request.userInfo.groups,
        ...(request.userIdentity?.uid ? { uid: request.userIdentity.uid } : {}),
        ...(request.userIdentity && Object.keys(request.userIdentity.extra).length > 0
          ? { extra: request.userIdentity.extra }
          : {}),
        resourceAttributes: {
          namespace: request.namespace,
          verb: "create",
          group: "",
          version: "v1",
          resource: "services",
        },
      },
    };
    try {
      const answer = await transport.sendJson(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {},
        { contentType: "application/json", value: review },
        { timeoutMs: options.timeoutMs ?? 3_000 },
      );
      if (answer.status !== 201 && answer.status !== 200)
        return { failed: describeApiFailure(answer.status, answer.body) };
      const status = readMap(answer.body, "status");
      return {
        allowed: status?.["allowed"] === true,
        reason: typeof status?.["reason"] === "string" ? status["reason"] : "",
      };
    } catch (error: unknown) {
      return { failed: error instanceof Error ? error.message : String(error) };
    }
  };

  return async (request) => {
    const prefix = options.labelPrefix();
    const object = withIdentity(request.object, request);
    const wanted = exposeAnnotationsOf(object, prefix);
    if (Object.keys(wanted).length === 0) return BASE;
    const before = exposeAnnotationsOf(request.oldObject, prefix);
    const changed = !sameAnnotations(wanted, before);
    if (!changed && checkApproval(key, object, prefix).status === "approved") return BASE;
    const user = request.userInfo.username;
    const answer = await mayCreateServices(request);
    if ("failed" in answer) {
      log.warn(
        { user, namespace: request.namespace, failure: answer.failed },
        "SubjectAccessReview failed",
      );
      if (!changed) return BASE;
      return deny(
        `stsguard could not check whether ${user} may create Services in namespace ${request.namespace} (SubjectAccessReview: ${answer.failed}); the ${prefix}/expose* annotations were not changed`,
      );
    }
    if (!answer.allowed) {
      log.info(
        { user, namespace: request.namespace, name: request.name, changed },
        "expose annotations by a user who may not create Services",
      );
      // Unchanged annotations that predate the webhook stay unapproved; the update itself is not
      // about them, so it goes through.
      if (!changed) return BASE;
      return deny(
        `${user} may not create services in namespace ${request.namespace}: the ${prefix}/expose* annotations make stsguard's controller create Services on your behalf, so setting or changing them needs that right (RBAC: verb create, resource services, namespace ${request.namespace})`,
      );
    }
    const annotationKey = approvalAnnotationKey(prefix);
    const value = signApproval(
      key,
      request.namespace,
      request.name || nameOf(object),
      user,
      wanted,
    );
    const annotations = readMap(readMap(request.object, "metadata"), "annotations") ?? {};
    const path = `/metadata/annotations/${annotationKey.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    return {
      ...BASE,
      patch: [{ op: annotationKey in annotations ? "replace" : "add", path, value }],
    };
  };
}

function deny(message: string): AdmissionResult {
  return { ...BASE, allowed: false, status: { code: 403, reason: "Forbidden", message } };
}

/** The object with the request's namespace and name (a create may leave them out). */
function withIdentity(object: unknown, request: AdmissionRequest): unknown {
  const metadata = readMap(object, "metadata") ?? {};
  return {
    ...(typeof object === "object" && object !== null ? object : {}),
    metadata: {
      ...metadata,
      namespace: request.namespace,
      name: request.name || metadata["name"],
    },
  };
}

function nameOf(object: unknown): string {
  const name = readMap(object, "metadata")?.["name"];
  return typeof name === "string" ? name : "";
}

function sameAnnotations(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}
