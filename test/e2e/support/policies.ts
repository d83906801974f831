/**
 * ValidatingAdmissionPolicies on the real API server: applying them, waiting until a binding is
 * in force (a policy or binding is compiled and picked up by the API server a moment after it is
 * stored, so tests poll a request that must be denied, never sleep), and asking the API server for
 * a verdict without storing anything (`?dryRun=All`), many at once over one keep-alive connection
 * pool.
 */
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { eventually, type Cluster } from "./cluster.js";

/** What the API server answered for one write. */
export type Answer =
  /** Admitted: the object as it would be stored (defaults applied). */
  | { readonly kind: "admitted"; readonly status: number; readonly object: ApiObject }
  /** Denied by a ValidatingAdmissionPolicy: its name and its message. */
  | {
      readonly kind: "denied";
      readonly status: number;
      readonly policy: string;
      readonly binding: string;
      readonly message: string;
      readonly reason: string;
      /** The Status message as sent: `services "x" is forbidden: ValidatingAdmissionPolicy …`. */
      readonly statusMessage: string;
    }
  /** Refused for another reason (validation, a conflict, ...), before or without any policy. */
  | {
      readonly kind: "refused";
      readonly status: number;
      readonly message: string;
      readonly reason: string;
      readonly statusMessage: string;
    };

export type ApiObject = Record<string, unknown>;

interface Status {
  readonly message?: string;
  readonly reason?: string;
}

// `ValidatingAdmissionPolicy 'P' with binding 'B' denied request: M` (1.26's controller.go).
const DENIAL = /ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)' denied request: (.*)$/s;

/** A client for the cluster's API as its admin, for many small requests. */
export interface Api {
  create(namespace: string, object: ApiObject, options?: { dryRun?: boolean }): Promise<Answer>;
  replace(namespace: string, object: ApiObject, options?: { dryRun?: boolean }): Promise<Answer>;
  get(namespace: string, name: string): Promise<ApiObject | null>;
  close(): void;
}

export function serviceApi(cluster: Cluster): Api {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: readFileSync(cluster.caFile) });
  const base = new URL(cluster.apiserverUrl);
  const call = (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method,
          path,
          headers: {
            authorization: `Bearer ${cluster.adminToken}`,
            accept: "application/json",
            ...(payload === undefined
              ? {}
              : {
                  "content-type": "application/json",
                  "content-length": Buffer.byteLength(payload),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: { message: text } });
            }
          });
        },
      );
      req.on("error", reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.end(payload);
    });
  const services = (namespace: string): string => `/api/v1/namespaces/${namespace}/services`;
  const dry = (options?: { dryRun?: boolean }): string =>
    options?.dryRun === false ? "" : "?dryRun=All";
  return {
    async create(namespace, object, options) {
      const { status, body } = await call("POST", `${services(namespace)}${dry(options)}`, object);
      return toAnswer(status, body);
    },
    async replace(namespace, object, options) {
      const name = (object["metadata"] as { name: string }).name;
      const { status, body } = await call(
        "PUT",
        `${services(namespace)}/${name}${dry(options)}`,
        object,
      );
      return toAnswer(status, body);
    },
    async get(namespace, name) {
      const { status, body } = await call("GET", `${services(namespace)}/${name}`);
      if (status === 404) return null;
      if (status !== 200) throw new Error(`GET service ${namespace}/${name}: ${status}`);
      return body as ApiObject;
    },
    close() {
      agent.destroy();
    },
  };
}

function toAnswer(status: number, body: unknown): Answer {
  if (status >= 200 && status < 300) return { kind: "admitted", status, object: body as ApiObject };
  const { message = "", reason = "" } = body as Status;
  const denial = DENIAL.exec(message);
  if (denial) {
    return {
      kind: "denied",
      status,
      policy: denial[1] ?? "",
      binding: denial[2] ?? "",
      message: denial[3] ?? "",
      reason,
      statusMessage: message,
    };
  }
  return { kind: "refused", status, message, reason, statusMessage: message };
}

/** Runs `task` over `items`, at most `limit` at a time, keeping the order of the results. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Polls a dry-run create of `probe` in `namespace` until the policy `policy` denies it: the
 * moment its binding is in force there.
 */
export async function waitUntilDenied(
  api: Api,
  namespace: string,
  probe: ApiObject,
  policy: string,
): Promise<void> {
  await eventually(
    async () => {
      const answer = await api.create(namespace, probe);
      return answer.kind === "denied" && answer.policy === policy ? true : undefined;
    },
    `ValidatingAdmissionPolicy ${policy} to deny the probe in ${namespace}`,
    30_000,
  );
}

/** Polls until no policy denies `probe` in `namespace` any more (after deleting them). */
export async function waitUntilAdmitted(
  api: Api,
  namespace: string,
  probe: ApiObject,
): Promise<void> {
  await eventually(
    async () => ((await api.create(namespace, probe)).kind === "admitted" ? true : undefined),
    `the probe to be admitted in ${namespace}`,
    30_000,
  );
}

/** Deletes every ValidatingAdmissionPolicy and binding labelled `selector`. */
export async function deletePolicies(cluster: Cluster, selector: string): Promise<void> {
  await cluster.kubectl([
    "delete",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io,validatingadmissionpolicies.admissionregistration.k8s.io",
    "-l",
    selector,
    "--wait=true",
  ]);
}

/** A Service to send: a per-pod one by default (LoadBalancer, Local, labels right). */
export interface ServiceSpec {
  readonly name: string;
  readonly podName?: string | null;
  readonly type?: string;
  /** Local by default on LoadBalancer and NodePort; null: unset (the API server defaults Cluster). */
  readonly externalTrafficPolicy?: string | null;
  readonly externalIPs?: readonly string[];
  readonly clusterIP?: string;
  /** null: no labels at all; absent: the right stsguard labels for podName. */
  readonly labels?: Readonly<Record<string, string>> | null;
  readonly extraSelector?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export const POD_NAME_KEY = "statefulset.kubernetes.io/pod-name";

/** The labels the engine requires for a well-formed target (`redis-2-0` → `redis-2`, `0`). */
export function rightLabels(podName: string, prefix = "stsguard.io"): Record<string, string> {
  const dash = podName.lastIndexOf("-");
  return {
    [`${prefix}/statefulset`]: podName.slice(0, dash),
    [`${prefix}/ordinal`]: podName.slice(dash + 1),
  };
}

export function serviceOf(spec: ServiceSpec): ApiObject {
  const podName = spec.podName === undefined ? spec.name : spec.podName;
  const type = spec.type ?? "LoadBalancer";
  const labels =
    spec.labels === null
      ? undefined
      : (spec.labels ?? (typeof podName === "string" ? rightLabels(podName) : undefined));
  const selector =
    podName === null ? spec.extraSelector : { ...spec.extraSelector, [POD_NAME_KEY]: podName };
  const external = type === "LoadBalancer" || type === "NodePort";
  const policy = spec.externalTrafficPolicy === undefined ? "Local" : spec.externalTrafficPolicy;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: spec.name,
      ...(labels ? { labels } : {}),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    },
    spec: {
      type,
      ...(type === "ExternalName"
        ? { externalName: "db.example.com" }
        : { ports: [{ name: "http", port: 80 }] }),
      ...(selector ? { selector } : {}),
      ...(spec.clusterIP ? { clusterIP: spec.clusterIP } : {}),
      ...(spec.externalIPs ? { externalIPs: spec.externalIPs } : {}),
      ...(external && policy !== null ? { externalTrafficPolicy: policy } : {}),
    },
  };
}
