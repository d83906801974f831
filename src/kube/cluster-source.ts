/**
 * The webhook's view of the cluster: StatefulSets, Services and the HorizontalPodAutoscalers of
 * StatefulSets kept by list+watch (summaries only), answered from memory while the watches show
 * signs of life, read live otherwise. Live reads carry a deadline well inside the webhook's
 * timeout. A StatefulSet is answered joined with the HPA that scales it, which widens the
 * ordinals it may have (src/policy/ordinal-range.ts).
 */
import type { Logger } from "pino";
import { ConfigError, LookupError } from "../errors.js";
import {
  summarizeAutoscaler,
  summarizePerPodService,
  summarizeService,
  summarizeStatefulSet,
  withAutoscaler,
} from "../policy/index.js";
import type {
  AutoscalerSummary,
  PerPodServiceSummary,
  ServiceLookup,
  ServiceSummary,
  StatefulSetLookup,
  StatefulSetSummary,
} from "../policy/types.js";
import type { StatefulSetSource } from "../statefulsets/source.js";
import {
  describeApiFailure,
  isNotFound,
  readListPage,
  withTypeMeta,
  type TypeMeta,
} from "./api-objects.js";
import { DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  createKubeTransport,
  describeError,
  describeRequestFailure,
  type KubeConfig,
  type KubeTransport,
} from "./client.js";
import {
  createReflector,
  type Clock,
  type Reflector,
  type ReflectorMetrics,
  type ReflectorOptions,
} from "./reflector.js";

export type { Clock, ReflectorMetrics, WatchRestartReason } from "./reflector.js";

export type LiveReadOutcome = "found" | "not-found" | "listed" | "unavailable";
export type LiveReadWhat = "statefulset" | "services" | "autoscalers";

/** Counters a caller may back with prom-client; every method is called synchronously. */
export interface ClusterSourceMetrics extends ReflectorMetrics {
  recordLiveRead(what: LiveReadWhat, outcome: LiveReadOutcome): void;
}

export interface ClusterSourceOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Deadline of one live read; keep it well inside the webhook's timeoutSeconds. */
  readonly liveReadTimeoutMs?: number;
  /**
   * The cache is trusted only while an event, a bookmark or an accepted watch came within this
   * window. A watch silent for half of it is renewed (bookmarks are best effort: an idle
   * resource may get none), so the cache goes stale only when the API server stops answering.
   */
  readonly staleAfterMs?: number;
  /** Base of the watch's server-side timeoutSeconds; each watch asks for 1–2× this. */
  readonly watchTimeoutSeconds?: number;
  /** Deadline of each list page request. */
  readonly listTimeoutMs?: number;
  /** `limit` of each list page. */
  readonly pageSize?: number;
  /** Largest answer to a list page or GET read into memory (see DEFAULT_MAX_RESPONSE_BYTES). */
  readonly maxResponseBytes?: number;
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly metrics?: ClusterSourceMetrics;
}

export interface ClusterSourceHealth {
  /** Every cache has completed its first list. */
  readonly synced: boolean;
  /** The StatefulSet cache is trusted (lookup() also needs autoscalersFresh to answer from memory). */
  readonly statefulSetsFresh: boolean;
  /** perPodServices() answers from memory (else it lists live). */
  readonly servicesFresh: boolean;
  /** autoscalers() answers from memory (else it lists live). */
  readonly autoscalersFresh: boolean;
  readonly statefulSets: number;
  readonly perPodServices: number;
  /** HorizontalPodAutoscalers of StatefulSets (those of anything else are not kept). */
  readonly autoscalers: number;
  /** The resourceVersion each watch stands at (from its list, events and bookmarks). */
  readonly resourceVersions: {
    readonly statefulSets: string;
    readonly services: string;
    readonly autoscalers: string;
  };
}

/**
 * One Service as the cache keeps it: every Service, since any may be a StatefulSet's governing
 * Service (`governing-service`), and the per-pod part for the Service rules.
 */
export interface CachedService {
  readonly service: ServiceSummary;
  readonly perPod: PerPodServiceSummary | null;
}

/** What the caches hold, for gauges computed from them (summaries only, never whole objects). */
export interface ClusterSnapshot {
  /** Each joined with the HPA that scales it, if any. */
  readonly statefulSets: readonly StatefulSetSummary[];
  readonly services: readonly CachedService[];
}

export interface ClusterSource extends StatefulSetSource {
  /**
   * Starts list+watch of StatefulSets, Services and HorizontalPodAutoscalers in all namespaces.
   * Resolves once all have synced, or when the source is closed first (isReady() tells which).
   * Calling it again returns the same wait and starts nothing new.
   */
  start(): Promise<void>;
  readHealth(): ClusterSourceHealth;
  /** The caches as they stand; null until all have synced. */
  readSnapshot(): ClusterSnapshot | null;
}

interface Settings {
  readonly liveReadTimeoutMs: number;
  readonly staleAfterMs: number;
  readonly watchTimeoutSeconds: number;
  readonly listTimeoutMs: number;
  readonly pageSize: number;
  readonly maxResponseBytes: number;
}

export const CLUSTER_SOURCE_DEFAULTS: Settings = Object.freeze({
  liveReadTimeoutMs: 2_000,
  staleAfterMs: 90_000,
  watchTimeoutSeconds: 300,
  listTimeoutMs: 60_000,
  // A page of 250 StatefulSets is ~1 MB of JSON, parsed whole and summarized, then garbage:
  // pages of 500 left RSS at ready 8–10 MiB higher with 10,000 StatefulSets and Services
  // (docs/benchmarks.md); with connections kept alive the extra pages cost no handshakes.
  pageSize: 250,
  maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
});

const STATEFULSET_TYPE: TypeMeta = { apiVersion: "apps/v1", kind: "StatefulSet" };
const SERVICE_TYPE: TypeMeta = { apiVersion: "v1", kind: "Service" };
// autoscaling/v2 is served from Kubernetes 1.23, below the chart's floor (1.24).
const HPA_TYPE: TypeMeta = { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler" };
const HPA_PATH = "/apis/autoscaling/v2";

/**
 * What a cache of HorizontalPodAutoscalers lists, watches and keeps: only HPAs of StatefulSets
 * (summarizeAutoscaler drops the rest), so a cluster's many Deployment HPAs cost it nothing. The
 * webhook's cache and the controller's share it.
 */
export const AUTOSCALER_CACHE: Pick<
  ReflectorOptions<AutoscalerSummary>,
  "resource" | "path" | "typeMeta" | "summarize"
> = Object.freeze({
  resource: "horizontalpodautoscalers",
  path: `${HPA_PATH}/horizontalpodautoscalers`,
  typeMeta: HPA_TYPE,
  summarize: summarizeAutoscaler,
});

export function createClusterSource(options: ClusterSourceOptions): ClusterSource {
  const settings = { ...CLUSTER_SOURCE_DEFAULTS, ...definedOnly(options) };
  checkSettings(settings);
  const logger = options.logger.child({ component: "cluster-source" });
  const transport = createKubeTransport(options.kubeConfig, {
    maxResponseBytes: settings.maxResponseBytes,
  });
  const clock = options.clock ?? { now: () => performance.now() };
  const closeController = new AbortController();
  const shared = {
    transport,
    logger,
    clock,
    random: options.random ?? Math.random,
    staleAfterMs: settings.staleAfterMs,
    watchTimeoutSeconds: settings.watchTimeoutSeconds,
    listTimeoutMs: settings.listTimeoutMs,
    pageSize: settings.pageSize,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    metrics: options.metrics,
  };
  const statefulSets = createReflector<StatefulSetSummary>({
    ...shared,
    resource: "statefulsets",
    path: "/apis/apps/v1/statefulsets",
    typeMeta: STATEFULSET_TYPE,
    summarize: summarizeStatefulSet,
  });
  const services = createReflector<CachedService>({
    ...shared,
    resource: "services",
    path: "/api/v1/services",
    typeMeta: SERVICE_TYPE,
    summarize: summarizeCachedService,
  });
  const autoscalers = createReflector<AutoscalerSummary>({ ...shared, ...AUTOSCALER_CACHE });
  const caches = [statefulSets, services, autoscalers];
  const allSynced = (): boolean => caches.every((cache) => cache.isSynced());
  const live: LiveReader = {
    transport,
    logger,
    timeoutMs: settings.liveReadTimeoutMs,
    pageSize: settings.pageSize,
    closeController,
  };

  let running: Promise<unknown> | undefined;
  let startWait: Promise<void> | undefined;
  let resolveClosed = (): void => undefined;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });

  const autoscalersLive = async (namespace: string): Promise<readonly AutoscalerSummary[]> => {
    try {
      const listed = await listAutoscalersLive(live, namespace);
      options.metrics?.recordLiveRead("autoscalers", "listed");
      return listed;
    } catch (error: unknown) {
      options.metrics?.recordLiveRead("autoscalers", "unavailable");
      throw error;
    }
  };

  const readAutoscalers = (namespace: string): Promise<readonly AutoscalerSummary[]> =>
    autoscalers.isFresh()
      ? Promise.resolve(autoscalers.listNamespace(namespace))
      : autoscalersLive(namespace);

  /**
   * The StatefulSet read live, joined with the HPAs of its namespace as `readHpas` reads them
   * (in parallel: a StatefulSet not found costs one list it did not need, never a round trip).
   */
  const readJoined = async (
    namespace: string,
    name: string,
    readHpas: (namespace: string) => Promise<readonly AutoscalerSummary[]>,
  ): Promise<StatefulSetLookup> => {
    const [result, hpas] = await Promise.all([
      readStatefulSetLive(live, namespace, name),
      readHpas(namespace).then(
        (list) => ({ list }),
        (error: unknown) => ({ error }),
      ),
    ]);
    options.metrics?.recordLiveRead("statefulset", result.status);
    if (result.status !== "found") return result;
    if ("error" in hpas) {
      if (!(hpas.error instanceof LookupError)) throw hpas.error;
      return { status: "unavailable", reason: hpas.error.message };
    }
    return { status: "found", statefulSet: withAutoscaler(result.statefulSet, hpas.list) };
  };

  /** Both read live: what a denial that rests on the caches is confirmed with. */
  const lookupLive = (namespace: string, name: string): Promise<StatefulSetLookup> =>
    readJoined(namespace, name, autoscalersLive);

  const lookupCached = (namespace: string, name: string): StatefulSetLookup | null => {
    if (!statefulSets.isFresh() || !autoscalers.isFresh()) return null;
    const found = statefulSets.get(namespace, name);
    if (!found) return { status: "not-found" };
    return {
      status: "found",
      statefulSet: withAutoscaler(found, autoscalers.listNamespace(namespace)),
    };
  };

  /** From memory when both caches are fresh; else live what is not (the HPAs may be fresh). */
  const lookup = (namespace: string, name: string): Promise<StatefulSetLookup> => {
    const cached = lookupCached(namespace, name);
    return cached ? Promise.resolve(cached) : readJoined(namespace, name, readAutoscalers);
  };

  const listNamespaceServicesLive = async (
    namespace: string,
  ): Promise<readonly PerPodServiceSummary[]> => {
    try {
      const listed = await listServicesLive(live, namespace);
      options.metrics?.recordLiveRead("services", "listed");
      return listed;
    } catch (error: unknown) {
      options.metrics?.recordLiveRead("services", "unavailable");
      throw error;
    }
  };

  const perPodServices = async (
    namespace: string,
    statefulSet: string,
  ): Promise<readonly PerPodServiceSummary[]> => {
    const found: PerPodServiceSummary[] = [];
    if (services.isFresh()) {
      // Read in place: a namespace may hold thousands of Services, and this runs on every
      // StatefulSet admission.
      for (const entry of services.valuesOfNamespace(namespace)) {
        if (entry.perPod?.target.statefulSet === statefulSet) found.push(entry.perPod);
      }
    } else {
      for (const service of await listNamespaceServicesLive(namespace)) {
        if (service.target.statefulSet === statefulSet) found.push(service);
      }
    }
    return found.sort(
      (a, b) => a.target.ordinal - b.target.ordinal || a.name.localeCompare(b.name),
    );
  };

  const lookupService = async (namespace: string, name: string): Promise<ServiceLookup> => {
    if (!services.isFresh()) return readServiceLive(live, namespace, name);
    const found = services.get(namespace, name);
    return found ? { status: "found", service: found.service } : { status: "not-found" };
  };

  return {
    lookup,
    lookupCached,
    lookupLive,
    perPodServices,
    lookupService,
    autoscalers: readAutoscalers,
    autoscalersLive,
    readSnapshot: () => (allSynced() ? readSnapshot(statefulSets, services, autoscalers) : null),
    isReady: () => !closeController.signal.aborted && allSynced(),
    readHealth: () => ({
      synced: allSynced(),
      statefulSetsFresh: statefulSets.isFresh(),
      servicesFresh: services.isFresh(),
      autoscalersFresh: autoscalers.isFresh(),
      statefulSets: statefulSets.count(),
      perPodServices: perPodOnly(services.listAll()).length,
      autoscalers: autoscalers.count(),
      resourceVersions: {
        statefulSets: statefulSets.currentResourceVersion(),
        services: services.currentResourceVersion(),
        autoscalers: autoscalers.currentResourceVersion(),
      },
    }),
    start() {
      if (closeController.signal.aborted) return Promise.resolve();
      running ??= Promise.all(caches.map((cache) => cache.run()));
      startWait ??= Promise.race([
        Promise.all(caches.map((cache) => cache.synced)).then(() => undefined),
        closed,
      ]);
      return startWait;
    },
    async close() {
      closeController.abort(new LookupError("the cluster source is closed"));
      for (const cache of caches) cache.stop();
      resolveClosed();
      await running;
    },
  };
}

/** The caches' summaries, each StatefulSet joined with the HPA that scales it. */
function readSnapshot(
  statefulSets: Reflector<StatefulSetSummary>,
  services: Reflector<CachedService>,
  autoscalers: Reflector<AutoscalerSummary>,
): ClusterSnapshot {
  const byNamespace = new Map<string, AutoscalerSummary[]>();
  for (const hpa of autoscalers.listAll()) {
    byNamespace.set(hpa.namespace, [...(byNamespace.get(hpa.namespace) ?? []), hpa]);
  }
  return {
    statefulSets: statefulSets
      .listAll()
      .map((sts) => withAutoscaler(sts, byNamespace.get(sts.namespace) ?? [])),
    services: services.listAll(),
  };
}

interface LiveReader {
  readonly transport: KubeTransport;
  readonly logger: Logger;
  readonly timeoutMs: number;
  readonly pageSize: number;
  readonly closeController: AbortController;
}

/**
 * GET one StatefulSet. What the live read sees is not written into the cache: the watch brings
 * the same change moments later, and a read that finishes after a newer watch event (a delete)
 * would put back a stale object; resourceVersions are opaque and must not be compared.
 */
async function readStatefulSetLive(
  reader: LiveReader,
  namespace: string,
  name: string,
): Promise<StatefulSetLookup> {
  // No StatefulSet has an empty name, and an empty segment would turn the GET into a list.
  if (namespace === "" || name === "") return { status: "not-found" };
  const what = `StatefulSet ${namespace}/${name}`;
  if (reader.closeController.signal.aborted) {
    return { status: "unavailable", reason: `cannot read ${what}: the cluster source is closed` };
  }
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/statefulsets/${encodeURIComponent(name)}`;
  try {
    const { status, body } = await reader.transport.getJson(
      path,
      {},
      { signal: reader.closeController.signal, timeoutMs: reader.timeoutMs },
    );
    if (isNotFound(status, body, name)) return { status: "not-found" };
    if (status !== 200) {
      const failure = describeApiFailure(status, body);
      return unavailable(reader, `cannot read ${what}: the API server answered ${failure}`);
    }
    const summary = summarizeStatefulSet(withTypeMeta(body, STATEFULSET_TYPE), namespace);
    if (!summary) {
      return unavailable(reader, `cannot read ${what}: the API server's answer is not one`);
    }
    return { status: "found", statefulSet: summary };
  } catch (error: unknown) {
    const failure = describeRequestFailure(error);
    return unavailable(reader, `cannot read ${what} from the API server: ${failure}`, error);
  }
}

/** GET one Service, for `governing-service` when the cache is not fresh. */
async function readServiceLive(
  reader: LiveReader,
  namespace: string,
  name: string,
): Promise<ServiceLookup> {
  if (namespace === "" || name === "") return { status: "not-found" };
  const what = `Service ${namespace}/${name}`;
  if (reader.closeController.signal.aborted) {
    return { status: "unavailable", reason: `cannot read ${what}: the cluster source is closed` };
  }
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
  try {
    const { status, body } = await reader.transport.getJson(
      path,
      {},
      { signal: reader.closeController.signal, timeoutMs: reader.timeoutMs },
    );
    if (isNotFound(status, body, name)) return { status: "not-found" };
    const summary =
      status === 200 ? summarizeService(withTypeMeta(body, SERVICE_TYPE), namespace) : null;
    if (!summary) {
      const reason = `cannot read ${what}: the API server answered ${describeApiFailure(status, body)}`;
      reader.logger.warn({ err: new LookupError(reason) }, reason);
      return { status: "unavailable", reason };
    }
    return { status: "found", service: summary };
  } catch (error: unknown) {
    const reason = `cannot read ${what} from the API server: ${describeRequestFailure(error)}`;
    reader.logger.warn({ err: error }, reason);
    return { status: "unavailable", reason };
  }
}

function summarizeCachedService(obj: unknown, namespace: string): CachedService | null {
  const service = summarizeService(obj, namespace);
  return service ? { service, perPod: summarizePerPodService(obj, namespace) } : null;
}

function perPodOnly(entries: readonly CachedService[]): PerPodServiceSummary[] {
  return entries.flatMap((entry) => (entry.perPod ? [entry.perPod] : []));
}

function unavailable(reader: LiveReader, reason: string, error?: unknown): StatefulSetLookup {
  reader.logger.warn({ err: error ?? new LookupError(reason) }, reason);
  return { status: "unavailable", reason };
}

/** All per-pod Services of a namespace. */
function listServicesLive(reader: LiveReader, namespace: string): Promise<PerPodServiceSummary[]> {
  return listLive(reader, {
    what: `Services in namespace ${namespace}`,
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`,
    summarize: (item) => summarizePerPodService(withTypeMeta(item, SERVICE_TYPE), namespace),
  });
}

/** The HorizontalPodAutoscalers of StatefulSets in a namespace. */
function listAutoscalersLive(reader: LiveReader, namespace: string): Promise<AutoscalerSummary[]> {
  return listLive(reader, {
    what: `HorizontalPodAutoscalers in namespace ${namespace}`,
    path: `${HPA_PATH}/namespaces/${encodeURIComponent(namespace)}/horizontalpodautoscalers`,
    summarize: (item) => summarizeAutoscaler(withTypeMeta(item, HPA_TYPE), namespace),
  });
}

interface LiveList<T> {
  /** For messages: `Services in namespace demo`. */
  readonly what: string;
  readonly path: string;
  readonly summarize: (item: unknown) => T | null;
}

/**
 * A namespaced list, page by page, under one deadline for the whole list; what `summarize`
 * keeps. Throws LookupError naming what could not be listed.
 */
async function listLive<T>(reader: LiveReader, list: LiveList<T>): Promise<T[]> {
  const { what, path } = list;
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    deadline.abort(new LookupError(`no answer within ${reader.timeoutMs} ms`));
  }, reader.timeoutMs);
  const onClose = (): void => {
    deadline.abort(reader.closeController.signal.reason);
  };
  reader.closeController.signal.addEventListener("abort", onClose, { once: true });
  if (reader.closeController.signal.aborted) onClose();
  try {
    const found: T[] = [];
    let continueToken: string | undefined;
    do {
      const query = { limit: String(reader.pageSize), continue: continueToken };
      const { status, body } = await reader.transport.getJson(path, query, {
        signal: deadline.signal,
      });
      const page = status === 200 ? readListPage(body) : null;
      if (!page) {
        throw new LookupError(`the API server answered ${describeApiFailure(status, body)}`);
      }
      for (const item of page.items) {
        const summary = list.summarize(item);
        if (summary) found.push(summary);
      }
      continueToken = page.continueToken;
    } while (continueToken);
    return found;
  } catch (error: unknown) {
    const cause = deadline.signal.aborted
      ? describeError(deadline.signal.reason)
      : describeRequestFailure(error);
    const message = `cannot list ${what}: ${cause}`;
    reader.logger.warn({ err: error }, message);
    throw new LookupError(message, { cause: error });
  } finally {
    clearTimeout(timer);
    reader.closeController.signal.removeEventListener("abort", onClose);
  }
}

function definedOnly(options: ClusterSourceOptions): Partial<Settings> {
  const picked: { -readonly [K in keyof Settings]?: number } = {};
  for (const key of Object.keys(CLUSTER_SOURCE_DEFAULTS) as (keyof Settings)[]) {
    const value = options[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

function checkSettings(settings: Settings): void {
  for (const [key, value] of Object.entries(settings)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new ConfigError(`cluster source: ${key} must be a positive number, got ${value}`);
    }
  }
}
