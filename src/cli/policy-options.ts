import path from "node:path";
import type { Command } from "commander";
import {
  defaultConfig,
  loadConfigFile,
  parseKubeVersion,
  withKubeVersion,
  type StsguardConfig,
} from "../config/config.js";
import { UsageError } from "../errors.js";
import type { KubeVersion } from "../policy/types.js";
import type { ClusterConnection } from "./cluster-connection.js";
import type { CliIo } from "./io.js";

/** Options `check` and `fix` share: where StatefulSets come from and which policy applies. */
export interface PolicyFlags {
  /** Absent: the kubeconfig context's namespace when a cluster is read, else `default`. */
  readonly namespace?: string;
  readonly config?: string;
  readonly kubeVersion?: string;
  readonly cluster?: boolean;
  readonly kubeconfig?: string;
  readonly context?: string;
}

export function addPolicyOptions(command: Command): Command {
  return command
    .option(
      "-n, --namespace <name>",
      "namespace of objects that name none, as in kubectl apply (default: the kubeconfig " +
        'context\'s namespace with --cluster, else "default")',
    )
    .option("--config <file>", "configuration file (the same as the webhook's)")
    .option(
      "--kube-version <version>",
      "Kubernetes version to assume, e.g. 1.29 (default: the config's kubeVersion, else the cluster's with --cluster, else the newest)",
    )
    .option("--cluster", "also resolve StatefulSets from a live cluster (kubeconfig)")
    .option("--kubeconfig <file>", "kubeconfig file for --cluster (implies --cluster)")
    .option("--context <name>", "kubeconfig context for --cluster (implies --cluster)");
}

export interface PolicySetup {
  readonly config: StsguardConfig;
  /** Namespace of objects that name none: -n, else the context's (with a cluster), else `default`. */
  readonly namespace: string;
  readonly cluster: ClusterConnection | undefined;
}

/**
 * Reads the configuration and, with --cluster, connects. The Kubernetes version is the flag,
 * else the config file's, else the cluster's, else the newest stsguard knows.
 */
export async function preparePolicy(flags: PolicyFlags, io: CliIo): Promise<PolicySetup> {
  if (flags.namespace === "") throw new UsageError("--namespace must not be empty");
  const flagVersion =
    flags.kubeVersion === undefined ? null : parseKubeVersion(flags.kubeVersion, "--kube-version");
  const config = flags.config
    ? await loadConfigFile(resolvePath(io.cwd, flags.config))
    : defaultConfig;
  const wantsCluster =
    flags.cluster === true || flags.kubeconfig !== undefined || flags.context !== undefined;
  // Loaded only for --cluster: the Kubernetes client costs more start-up time than a whole check.
  const cluster = wantsCluster
    ? (await import("./cluster-connection.js")).connectCluster({
        kubeconfig:
          flags.kubeconfig === undefined ? undefined : resolvePath(io.cwd, flags.kubeconfig),
        context: flags.context,
        env: io.env,
      })
    : undefined;
  let version: KubeVersion | null = flagVersion ?? config.kubeVersion;
  if (!version && cluster) {
    try {
      version = await cluster.readKubeVersion();
    } catch (error: unknown) {
      await cluster.close();
      throw error;
    }
  }
  return {
    config: version ? withKubeVersion(config, version) : config,
    namespace: flags.namespace ?? cluster?.namespace ?? "default",
    cluster,
  };
}

function resolvePath(cwd: string, file: string): string {
  return path.resolve(cwd, file);
}
