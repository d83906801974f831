import { withAutoscaler } from "../policy/index.js";
import type {
  AutoscalerSummary,
  PerPodServiceSummary,
  ServiceLookup,
  ServiceSummary,
  StatefulSetLookup,
  StatefulSetSummary,
} from "../policy/types.js";

/**
 * Where the webhook reads StatefulSets (and per-pod Services, for `orphaned-service`, and the
 * autoscalers that widen their ordinal ranges) from: a list+watch cache of the cluster, or a
 * fixed set read from manifests. A StatefulSet found is joined with the autoscaler that scales
 * it, read as fresh as the StatefulSet itself.
 */
export interface StatefulSetSource {
  /** Fast answer, from a cache when the cache is healthy. */
  lookup(namespace: string, name: string): Promise<StatefulSetLookup>;
  /**
   * The answer `lookup` gives when it needs no read (a fresh cache, a fixed set), at once;
   * null when only a read can answer. Lets admission answer without a microtask hop.
   */
  lookupCached(namespace: string, name: string): StatefulSetLookup | null;
  /**
   * Authoritative answer, read live from the API server with a deadline. A denial that rests
   * on the cache is confirmed with this first. Sources without a cache answer as `lookup`.
   */
  lookupLive(namespace: string, name: string): Promise<StatefulSetLookup>;
  /** The per-pod Services in `namespace` that select pods of StatefulSet `statefulSet`. */
  perPodServices(namespace: string, statefulSet: string): Promise<readonly PerPodServiceSummary[]>;
  /** Any Service by name: a StatefulSet's governing Service (`governing-service`). */
  lookupService(namespace: string, name: string): Promise<ServiceLookup>;
  /**
   * The autoscalers of StatefulSets in `namespace`, from memory when the cache is healthy, else
   * read live. Throws LookupError when they cannot be read.
   */
  autoscalers(namespace: string): Promise<readonly AutoscalerSummary[]>;
  /** The same, read live: a denial that rests on cached autoscalers is confirmed with this. */
  autoscalersLive(namespace: string): Promise<readonly AutoscalerSummary[]>;
  /** True once the source has synced and can answer; backs `/readyz`. */
  isReady(): boolean;
  /** Stops watches and timers. */
  close(): Promise<void>;
}

/** A source over a fixed set of objects, e.g. manifests read at start (`serve --manifests`). */
export function createStaticSource(
  statefulSets: readonly StatefulSetSummary[],
  services: readonly PerPodServiceSummary[] = [],
  allServices: readonly ServiceSummary[] = [],
  autoscalers: readonly AutoscalerSummary[] = [],
): StatefulSetSource {
  const servicesByKey = new Map(allServices.map((s) => [`${s.namespace}/${s.name}`, s]));
  const byKey = new Map(
    statefulSets.map((s) => [`${s.namespace}/${s.name}`, withAutoscaler(s, autoscalers)]),
  );
  const autoscalersOf = (namespace: string): Promise<readonly AutoscalerSummary[]> =>
    Promise.resolve(autoscalers.filter((a) => a.namespace === namespace));
  const lookupCached = (namespace: string, name: string): StatefulSetLookup => {
    const found = byKey.get(`${namespace}/${name}`);
    return found ? { status: "found", statefulSet: found } : { status: "not-found" };
  };
  const lookup = (namespace: string, name: string): Promise<StatefulSetLookup> =>
    Promise.resolve(lookupCached(namespace, name));
  return {
    lookup,
    lookupCached,
    lookupLive: lookup,
    perPodServices: (namespace, statefulSet) =>
      Promise.resolve(
        services.filter((s) => s.namespace === namespace && s.target.statefulSet === statefulSet),
      ),
    lookupService: (namespace, name) => {
      const found = servicesByKey.get(`${namespace}/${name}`);
      return Promise.resolve(found ? { status: "found", service: found } : { status: "not-found" });
    },
    autoscalers: autoscalersOf,
    autoscalersLive: autoscalersOf,
    isReady: () => true,
    close: () => Promise.resolve(),
  };
}
