/**
 * What `stsguard audit` reads of a live cluster: StatefulSets, Services, HorizontalPodAutoscalers
 * (they widen a StatefulSet's ordinal range) and (only when the configuration matches on
 * namespace labels) Namespaces, in pages of `limit` objects with `continue`, as kubectl does.
 * Read-only: list on those four resources, nothing else.
 */
import { LookupError } from "../errors.js";
import {
  describeApiFailure,
  readListPage,
  withTypeMeta,
  type TypeMeta,
} from "../kube/api-objects.js";
import { describeRequestFailure, type KubeTransport } from "../kube/client.js";
import {
  readPodNameSelector,
  summarizeAutoscaler,
  summarizeService,
  summarizeStatefulSet,
  type AutoscalerSummary,
  type ServiceSummary,
  type StatefulSetSummary,
} from "../policy/index.js";
import { readMap, readStringMap } from "../policy/raw-object.js";

export interface ReadClusterOptions {
  /** Namespaces to read; empty: all of them. */
  readonly namespaces: readonly string[];
  /** `limit` of each list page. */
  readonly chunkSize: number;
  /** Read the Namespaces' labels (the configuration selects namespaces by label). */
  readonly namespaceLabels: boolean;
  /** Deadline of each page request. */
  readonly pageTimeoutMs?: number;
}

/** The cluster as audit judges it: summaries, plus the whole object of each per-pod Service. */
export interface ClusterObjects {
  /** As listed: judgeCluster joins each with the autoscaler that scales it. */
  readonly statefulSets: readonly StatefulSetSummary[];
  /** The HorizontalPodAutoscalers of StatefulSets (those of anything else are not kept). */
  readonly autoscalers: readonly AutoscalerSummary[];
  /** Every Service (any may be a StatefulSet's governing Service). */
  readonly services: readonly ServiceSummary[];
  /** Per-pod Services as the API server returned them: the Service rules read every field. */
  readonly perPodServices: readonly unknown[];
  /** Labels per namespace; null when they were not read. */
  readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>> | null;
  /** List requests made (pages). */
  readonly pages: number;
}

const STATEFULSET: TypeMeta = { apiVersion: "apps/v1", kind: "StatefulSet" };
const SERVICE: TypeMeta = { apiVersion: "v1", kind: "Service" };
const HPA: TypeMeta = { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler" };
const DEFAULT_PAGE_TIMEOUT_MS = 60_000;

/** Throws LookupError naming the list that failed (RBAC, an expired continue token, a timeout). */
export async function readClusterObjects(
  transport: KubeTransport,
  options: ReadClusterOptions,
): Promise<ClusterObjects> {
  const scopes = options.namespaces.length > 0 ? [...new Set(options.namespaces)] : [null];
  const statefulSets: StatefulSetSummary[] = [];
  const autoscalers: AutoscalerSummary[] = [];
  const services: ServiceSummary[] = [];
  const perPodServices: unknown[] = [];
  let pages = 0;
  const list = async (path: string, onItem: (item: unknown) => void): Promise<void> => {
    pages += await listAll(transport, path, options, onItem);
  };
  for (const namespace of scopes) {
    const prefix = namespace === null ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
    await list(`/apis/apps/v1${prefix}/statefulsets`, (item) => {
      const summary = summarizeStatefulSet(withTypeMeta(item, STATEFULSET), namespace ?? "");
      if (summary) statefulSets.push(summary);
    });
    await list(`/apis/autoscaling/v2${prefix}/horizontalpodautoscalers`, (item) => {
      const summary = summarizeAutoscaler(withTypeMeta(item, HPA), namespace ?? "");
      if (summary) autoscalers.push(summary);
    });
    await list(`/api/v1${prefix}/services`, (item) => {
      const service = withTypeMeta(item, SERVICE);
      const summary = summarizeService(service, namespace ?? "");
      if (!summary) return;
      services.push(summary);
      if (readPodNameSelector(service)) perPodServices.push(service);
    });
  }
  let namespaceLabels: Map<string, Readonly<Record<string, string>>> | null = null;
  if (options.namespaceLabels) {
    const labels = new Map<string, Readonly<Record<string, string>>>();
    const wanted = options.namespaces.length > 0 ? new Set(options.namespaces) : null;
    await list("/api/v1/namespaces", (item) => {
      const metadata = readMap(item, "metadata");
      const name = metadata?.["name"];
      if (typeof name !== "string" || (wanted && !wanted.has(name))) return;
      labels.set(name, readStringMap(metadata?.["labels"]));
    });
    namespaceLabels = labels;
  }
  return { statefulSets, autoscalers, services, perPodServices, namespaceLabels, pages };
}

async function listAll(
  transport: KubeTransport,
  path: string,
  options: ReadClusterOptions,
  onItem: (item: unknown) => void,
): Promise<number> {
  let continueToken: string | undefined;
  let pages = 0;
  do {
    let response;
    try {
      response = await transport.getJson(
        path,
        { limit: String(options.chunkSize), continue: continueToken },
        { timeoutMs: options.pageTimeoutMs ?? DEFAULT_PAGE_TIMEOUT_MS },
      );
    } catch (error: unknown) {
      throw new LookupError(`cannot list ${path}: ${describeRequestFailure(error)}`, {
        cause: error,
      });
    }
    pages += 1;
    const page = response.status === 200 ? readListPage(response.body) : null;
    if (!page) {
      // 410 here is an expired continue token (a page took longer than the API server keeps it).
      throw new LookupError(
        `cannot list ${path}: the API server answered ${describeApiFailure(response.status, response.body)}`,
      );
    }
    for (const item of page.items) onItem(item);
    continueToken = page.continueToken;
  } while (continueToken);
  return pages;
}
