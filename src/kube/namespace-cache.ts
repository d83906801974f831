/**
 * Namespace labels, kept by the same list+watch machinery as the StatefulSet cache (reflector.ts):
 * only names and labels, answered from memory while the watch shows signs of life, read live
 * otherwise or when a namespace is not (yet) in the cache.
 */
import type { Logger } from "pino";
import { LookupError } from "../errors.js";
import {
  summarizeNamespace,
  type NamespaceLookup,
  type NamespaceSource,
  type NamespaceSummary,
} from "../namespaces/source.js";
import { describeApiFailure, isNotFound, withTypeMeta, type TypeMeta } from "./api-objects.js";
import { DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { CLUSTER_SOURCE_DEFAULTS } from "./cluster-source.js";
import { createKubeTransport, describeRequestFailure, type KubeConfig } from "./client.js";
import { createReflector, type Clock, type ReflectorMetrics } from "./reflector.js";

export interface NamespaceCacheOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly liveReadTimeoutMs?: number;
  readonly staleAfterMs?: number;
  readonly watchTimeoutSeconds?: number;
  readonly listTimeoutMs?: number;
  readonly pageSize?: number;
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly metrics?: ReflectorMetrics;
}

export interface NamespaceCache extends NamespaceSource {
  /** Starts list+watch; resolves at the first sync, or when closed first. */
  start(): Promise<void>;
  /** How many namespaces the cache holds. */
  count(): number;
}

const NAMESPACE_TYPE: TypeMeta = { apiVersion: "v1", kind: "Namespace" };

export function createNamespaceCache(options: NamespaceCacheOptions): NamespaceCache {
  const logger = options.logger.child({ component: "namespace-cache" });
  const transport = createKubeTransport(options.kubeConfig);
  const closeController = new AbortController();
  const liveReadTimeoutMs = options.liveReadTimeoutMs ?? CLUSTER_SOURCE_DEFAULTS.liveReadTimeoutMs;
  const reflector = createReflector<NamespaceSummary>({
    resource: "namespaces",
    path: "/api/v1/namespaces",
    typeMeta: NAMESPACE_TYPE,
    clusterScoped: true,
    summarize: summarizeNamespace,
    transport,
    logger,
    clock: options.clock ?? { now: () => performance.now() },
    random: options.random ?? Math.random,
    staleAfterMs: options.staleAfterMs ?? CLUSTER_SOURCE_DEFAULTS.staleAfterMs,
    watchTimeoutSeconds: options.watchTimeoutSeconds ?? CLUSTER_SOURCE_DEFAULTS.watchTimeoutSeconds,
    listTimeoutMs: options.listTimeoutMs ?? CLUSTER_SOURCE_DEFAULTS.listTimeoutMs,
    pageSize: options.pageSize ?? CLUSTER_SOURCE_DEFAULTS.pageSize,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    metrics: options.metrics,
  });

  const readLive = async (name: string): Promise<NamespaceLookup> => {
    if (name === "") return { status: "not-found" };
    if (closeController.signal.aborted) {
      return { status: "unavailable", reason: "the namespace cache is closed" };
    }
    try {
      const { status, body } = await transport.getJson(
        `/api/v1/namespaces/${encodeURIComponent(name)}`,
        {},
        { signal: closeController.signal, timeoutMs: liveReadTimeoutMs },
      );
      if (isNotFound(status, body, name)) return { status: "not-found" };
      const summary =
        status === 200 ? summarizeNamespace(withTypeMeta(body, NAMESPACE_TYPE)) : null;
      if (summary) return { status: "found", namespace: summary };
      const reason = `cannot read Namespace ${name}: the API server answered ${describeApiFailure(status, body)}`;
      logger.warn({ err: new LookupError(reason) }, reason);
      return { status: "unavailable", reason };
    } catch (error: unknown) {
      const reason = `cannot read Namespace ${name} from the API server: ${describeRequestFailure(error)}`;
      logger.warn({ err: error }, reason);
      return { status: "unavailable", reason };
    }
  };

  const lookupCached = (name: string): NamespaceLookup | null => {
    // A namespace created a moment ago may not have reached the watch yet: only a read can say
    // it does not exist.
    const cached = reflector.isFresh() ? reflector.get("", name) : undefined;
    return cached ? { status: "found", namespace: cached } : null;
  };

  let running: Promise<void> | undefined;
  let resolveClosed = (): void => undefined;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  return {
    lookup(name) {
      const cached = lookupCached(name);
      return cached ? Promise.resolve(cached) : readLive(name);
    },
    lookupCached,
    isReady: () => !closeController.signal.aborted && reflector.isSynced(),
    cachedLabels: (name) => reflector.get("", name)?.labels ?? null,
    count: () => reflector.count(),
    start() {
      if (closeController.signal.aborted) return Promise.resolve();
      running ??= reflector.run();
      return Promise.race([reflector.synced, closed]);
    },
    async close() {
      closeController.abort(new LookupError("the namespace cache is closed"));
      reflector.stop();
      resolveClosed();
      await running;
    },
  };
}
