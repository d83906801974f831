import { readMap, readString, readStringMap } from "../policy/raw-object.js";

/** What guardrails need of a Namespace: its labels, nothing else. */
export interface NamespaceSummary {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The answer of a namespace source for one name. */
export type NamespaceLookup =
  | { readonly status: "found"; readonly namespace: NamespaceSummary }
  | { readonly status: "not-found" }
  /** The source could not answer (API unreachable, deadline passed). */
  | { readonly status: "unavailable"; readonly reason: string };

/**
 * Where the webhook reads namespace labels from (for namespace rules and exemptions that select
 * by label): a list+watch cache of the cluster, or the Namespace objects among manifests.
 */
export interface NamespaceSource {
  lookup(name: string): Promise<NamespaceLookup>;
  /** The answer `lookup` gives when it needs no read, at once; null when only a read can answer. */
  lookupCached(name: string): NamespaceLookup | null;
  /** True once the source has synced and can answer. */
  isReady(): boolean;
  /** The labels held in memory now, without a read; null when the namespace is not known. */
  cachedLabels(name: string): Readonly<Record<string, string>> | null;
  close(): Promise<void>;
}

/** A `v1` Namespace's name and labels; null when the object is not a Namespace. */
export function summarizeNamespace(obj: unknown): NamespaceSummary | null {
  if (readString(obj, "kind") !== "Namespace" || readString(obj, "apiVersion") !== "v1") {
    return null;
  }
  const metadata = readMap(obj, "metadata");
  const name = readString(metadata, "name");
  if (!name) return null;
  return { name, labels: namespaceLabels(name, metadata?.["labels"]) };
}

/**
 * The labels as the API server keeps them: since Kubernetes 1.22 every namespace carries
 * `kubernetes.io/metadata.name: <name>`, which a manifest usually leaves out.
 */
export function namespaceLabels(name: string, labels: unknown): Record<string, string> {
  return { ...readStringMap(labels), "kubernetes.io/metadata.name": name };
}

/** A source over a fixed set of namespaces, e.g. Namespace objects among manifests. */
export function createStaticNamespaceSource(
  namespaces: readonly NamespaceSummary[],
): NamespaceSource {
  const byName = new Map(namespaces.map((ns) => [ns.name, ns]));
  const lookupCached = (name: string): NamespaceLookup => {
    const found = byName.get(name);
    return found ? { status: "found", namespace: found } : { status: "not-found" };
  };
  return {
    lookup: (name) => Promise.resolve(lookupCached(name)),
    lookupCached,
    isReady: () => true,
    cachedLabels: (name) => byName.get(name)?.labels ?? null,
    close: () => Promise.resolve(),
  };
}
