/**
 * The webhook's view of the cluster: StatefulSets and per-pod Services kept by list+watch
 * (summaries only), answered from memory while the watches show signs of life, read live
 * otherwise. Live reads carry a deadline well inside the webhook's timeout.
 */
import type { Logger } from "pino";
import { ConfigError, LookupError } from "../errors.js";
import { summarizePerPodService, summarizeService, summarizeStatefulSet } from "../policy/index.js";
import type {
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
import { createReflector, type Clock, type ReflectorMetrics } from "./reflector.js";

export type { Clock, ReflectorMetrics, WatchRestartReason } from "./reflector.js";

export type LiveReadOutcome = "found" | "not-found" | "listed" | "unavailable";

/** Counters a caller may back with prom-client; every method is called synchronously. */
export interface ClusterSourceMetrics extends ReflectorMetrics {
  recordLiveRead(what: "statefulset" | "services", outcome: LiveReadOutcome): void;
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
  /** Both caches have completed their first list. */
  readonly synced: boolean;
  /** lookup() answers from memory (else it reads live). */
  readonly statefulSetsFresh: boolean;
  /** perPodServices() answers from memory (else it lists live). */
  readonly servicesFresh: boolean;
  readonly statefulSets: number;
  readonly perPodServices: number;
  /** The resourceVersion each watch stands at (from its list, events and bookmarks). */
  readonly resourceVersions: { readonly statefulSets: string; readonly services: string };
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
  readonly statefulSets: readonly StatefulSetSummary[];
  readonly services: readonly CachedService[];
}

export interface ClusterSource extends StatefulSetSource {
  /**
   * Starts list+watch of StatefulSets and Services in all namespaces. Resolves once both have
   * synced, or when the source is closed first (isReady() tells which). Calling it again
   * returns the same wait and starts nothing new.
   */
  start(): Promise<void>;
  readHealth(): ClusterSourceHealth;
  /** The caches as they stand; null until both have synced. */
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

  const lookupLive = async (namespace: string, name: string): Promise<StatefulSetLookup> => {
    const result = await readStatefulSetLive(live, namespace, name);
    options.metrics?.recordLiveRead("statefulset", result.status);
    return result;
  };

  const lookupCached = (namespace: string, name: string): StatefulSetLookup | null => {
    if (!statefulSets.isFresh()) return null;
    const found = statefulSets.get(namespace, name);
    return found ? { status: "found", statefulSet: found } : { status: "not-found" };
  };

  const lookup = (namespace: string, name: string): Promise<StatefulSetLookup> => {
    const cached = lookupCached(namespace, name);
    return cached ? Promise.resolve(cached) : lookupLive(namespace, name);
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
    readSnapshot: () =>
      statefulSets.isSynced() && services.isSynced()
        ? { statefulSets: statefulSets.listAll(), services: services.listAll() }
        : null,
    isReady: () =>
      !closeController.signal.aborted && statefulSets.isSynced() && services.isSynced(),
    readHealth: () => ({
      synced: statefulSets.isSynced() && services.isSynced(),
      statefulSetsFresh: statefulSets.isFresh(),
      servicesFresh: services.isFresh(),
      statefulSets: statefulSets.count(),
      perPodServices: perPodOnly(services.listAll()).length,
      resourceVersions: {
        statefulSets: statefulSets.currentResourceVersion(),
        services: services.currentResourceVersion(),
      },
    }),
    start() {
      if (closeController.signal.aborted) return Promise.resolve();
      running ??= Promise.all([statefulSets.run(), services.run()]);
      startWait ??= Promise.race([
        Promise.all([statefulSets.synced, services.synced]).then(() => undefined),
        closed,
      ]);
      return startWait;
    },
    async close() {
      closeController.abort(new LookupError("the cluster source is closed"));
      statefulSets.stop();
      services.stop();
      resolveClosed();
      await running;
    },
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

/** All per-pod Services of a namespace, page by page, under one deadline for the whole list. */
async function listServicesLive(
  reader: LiveReader,
  namespace: string,
): Promise<PerPodServiceSummary[]> {
  const what = `Services in namespace ${namespace}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`;
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
    const found: PerPodServiceSummary[] = [];
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
        const summary = summarizePerPodService(withTypeMeta(item, SERVICE_TYPE), namespace);
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
