import { pino } from "pino";
import { loadKubeConfig, type KubeConfig } from "../kube/client.js";
import { createClusterSource } from "../kube/cluster-source.js";
import { fetchKubeVersion } from "../kube/server-version.js";
import type { KubeVersion } from "../policy/types.js";
import type { StatefulSetSource } from "../statefulsets/source.js";

export interface ClusterRequest {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** `--cluster`: live reads only (no watches), for the names the manifests lack. */
export interface ClusterConnection {
  readonly source: StatefulSetSource;
  /** The loaded kubeconfig (in-cluster or file), for front-ends that speak to the API themselves. */
  readonly kubeConfig: KubeConfig;
  /** The current context's namespace, kubectl's default for objects that name none; null if unset. */
  readonly namespace: string | null;
  /** Throws LookupError when the API server cannot tell. */
  readKubeVersion(): Promise<KubeVersion>;
  close(): Promise<void>;
}

/** Throws ConfigError when there is no usable kubeconfig. */
export function connectCluster(request: ClusterRequest): ClusterConnection {
  const kubeConfig = loadKubeConfig({
    kubeconfigPath: request.kubeconfig,
    context: request.context,
    env: request.env,
  });
  // Read failures come back as "unavailable" lookups, which the CLI reports itself.
  const source = createClusterSource({ kubeConfig, logger: pino({ level: "silent" }) });
  return {
    source,
    kubeConfig,
    namespace: kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace || null,
    readKubeVersion: () => fetchKubeVersion(kubeConfig),
    close: () => source.close(),
  };
}
