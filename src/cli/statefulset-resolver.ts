import { LookupError } from "../errors.js";
import type { ManifestObject } from "../manifests/read.js";
import {
  mergeAutoscalers,
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

/**
 * The StatefulSets (and per-pod Services, and the autoscalers that widen their ranges) a check
 * sees: every one in the inputs, whatever their file or document order, and, with `--cluster`,
 * the live cluster for names the inputs lack. Manifests win over the cluster: they are what is
 * about to be applied.
 */
export interface StatefulSetResolver {
  /** A StatefulSet found is joined with the autoscaler that scales it. */
  lookup(namespace: string, name: string): Promise<StatefulSetLookup>;
  /**
   * `sts` (from the inputs) joined with the autoscaler that scales it: one in the inputs, or
   * with a cluster, one already there. Throws LookupError when the cluster cannot be read.
   */
  joinAutoscaler(sts: StatefulSetSummary): Promise<StatefulSetSummary>;
  /** Per-pod Services of a StatefulSet: those in the inputs plus, with a cluster, the live ones. */
  perPodServices(namespace: string, statefulSet: string): Promise<PerPodServiceSummary[]>;
  /**
   * A StatefulSet's governing Service: from the inputs, else from the cluster with `--cluster`.
   * Without a cluster, a Service the inputs lack is `unresolved`, not missing.
   */
  lookupService(namespace: string, name: string): Promise<ServiceLookup>;
}

export function createStatefulSetResolver(
  documents: readonly ManifestObject[],
  defaultNamespace: string,
  live: StatefulSetSource | undefined,
): StatefulSetResolver {
  const statefulSets = new Map<string, StatefulSetSummary>();
  const services = new Map<string, PerPodServiceSummary[]>();
  const anyServices = new Map<string, ServiceSummary>();
  const serviceNamespaces = new Map<string, string[]>();
  const inputAutoscalers: AutoscalerSummary[] = [];
  for (const doc of documents) {
    const autoscaler = summarizeAutoscaler(doc.object, defaultNamespace);
    if (autoscaler) inputAutoscalers.push(autoscaler);
    const anyService = summarizeService(doc.object, defaultNamespace);
    const anyKey = anyService && `${anyService.namespace}/${anyService.name}`;
    if (anyService && anyKey && !anyServices.has(anyKey)) {
      anyServices.set(anyKey, anyService);
      serviceNamespaces.set(anyService.name, [
        ...(serviceNamespaces.get(anyService.name) ?? []),
        anyService.namespace,
      ]);
    }
    if (doc.kind === "StatefulSet") {
      const summary = summarizeStatefulSet(doc.object, defaultNamespace);
      // The first definition wins, as for duplicates reported by readManifests.
      if (summary) {
        const key = `${summary.namespace}/${summary.name}`;
        if (!statefulSets.has(key)) statefulSets.set(key, summary);
      }
    } else if (doc.kind === "Service" && doc.apiVersion === "v1") {
      const summary = summarizePerPodService(doc.object, defaultNamespace);
      if (summary) {
        const key = `${summary.namespace}/${summary.target.statefulSet}`;
        const list = services.get(key);
        if (list) list.push(summary);
        else services.set(key, [summary]);
      }
    }
  }
  const liveLookups = new Map<string, Promise<StatefulSetLookup>>();
  const liveAutoscalers = new Map<string, Promise<readonly AutoscalerSummary[]>>();
  /** The autoscalers of a namespace: the inputs', replacing what the cluster has. */
  const autoscalersIn = async (namespace: string): Promise<readonly AutoscalerSummary[]> => {
    const inFiles = inputAutoscalers.filter((a) => a.namespace === namespace);
    if (!live) return inFiles;
    let pending = liveAutoscalers.get(namespace);
    if (!pending) {
      pending = live.autoscalersLive(namespace);
      liveAutoscalers.set(namespace, pending);
    }
    return mergeAutoscalers(inFiles, await pending);
  };
  const joinAutoscaler = async (sts: StatefulSetSummary): Promise<StatefulSetSummary> =>
    withAutoscaler(sts, await autoscalersIn(sts.namespace));
  const lookupJoined = async (namespace: string, name: string): Promise<StatefulSetLookup> => {
    const found = statefulSets.get(`${namespace}/${name}`);
    const lookup: StatefulSetLookup = found
      ? { status: "found", statefulSet: found }
      : live
        ? await live.lookupLive(namespace, name)
        : { status: "not-found" };
    if (lookup.status !== "found") return lookup;
    try {
      return { status: "found", statefulSet: await joinAutoscaler(lookup.statefulSet) };
    } catch (error: unknown) {
      if (error instanceof LookupError) return { status: "unavailable", reason: error.message };
      throw error;
    }
  };
  return {
    lookup(namespace, name) {
      const key = `${namespace}/${name}`;
      let pending = liveLookups.get(key);
      if (!pending) {
        pending = lookupJoined(namespace, name);
        liveLookups.set(key, pending);
      }
      return pending;
    },
    joinAutoscaler,
    async perPodServices(namespace, statefulSet) {
      const inFiles = services.get(`${namespace}/${statefulSet}`) ?? [];
      if (!live) return inFiles;
      const names = new Set(inFiles.map((s) => s.name));
      const inCluster = await live.perPodServices(namespace, statefulSet);
      return [...inFiles, ...inCluster.filter((s) => !names.has(s.name))];
    },
    async lookupService(namespace, name) {
      const found = anyServices.get(`${namespace}/${name}`);
      if (found) return { status: "found", service: found };
      const elsewhere = serviceNamespaces.get(name) ?? [];
      if (!live) {
        return {
          status: "unresolved",
          reason:
            `Service ${namespace}/${name} is not among the inputs` +
            (elsewhere.length > 0
              ? ` (one of that name is in namespace ${elsewhere.join(", ")})`
              : "") +
            `; pass it too, or use --cluster`,
        };
      }
      const inCluster = await live.lookupService(namespace, name);
      return inCluster.status === "not-found" ? { status: "not-found", elsewhere } : inCluster;
    },
  };
}
