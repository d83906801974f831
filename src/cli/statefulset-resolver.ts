import type { ManifestObject } from "../manifests/read.js";
import { summarizePerPodService, summarizeService, summarizeStatefulSet } from "../policy/index.js";
import type {
  PerPodServiceSummary,
  ServiceLookup,
  ServiceSummary,
  StatefulSetLookup,
  StatefulSetSummary,
} from "../policy/types.js";
import type { StatefulSetSource } from "../statefulsets/source.js";

/**
 * The StatefulSets (and per-pod Services) a check sees: every one in the inputs, whatever
 * their file or document order, and, with `--cluster`, the live cluster for names the
 * inputs lack. Manifests win over the cluster: they are what is about to be applied.
 */
export interface StatefulSetResolver {
  lookup(namespace: string, name: string): Promise<StatefulSetLookup>;
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
  for (const doc of documents) {
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
  return {
    lookup(namespace, name) {
      const key = `${namespace}/${name}`;
      const found = statefulSets.get(key);
      if (found) return Promise.resolve({ status: "found", statefulSet: found });
      if (!live) return Promise.resolve({ status: "not-found" });
      let pending = liveLookups.get(key);
      if (!pending) {
        pending = live.lookupLive(namespace, name);
        liveLookups.set(key, pending);
      }
      return pending;
    },
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
