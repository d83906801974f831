import path from "node:path";
import { Command, Option } from "commander";
import { stringify } from "yaml";
import { defaultConfig, loadConfigFile, parseKubeVersion } from "../../config/config.js";
import { LookupError, UsageError, describeError } from "../../errors.js";
import type { KubeVersion } from "../../policy/types.js";
import { exportAdmissionPolicies } from "../../policy-export/index.js";
import { EXIT_OK, type CliIo, type SetExitCode } from "../io.js";
import { toSafeText } from "../reports/safe-text.js";

const OUTPUTS = ["yaml", "json"] as const;
const KINDS = ["validating", "mutating"] as const;

interface ExportFlags {
  readonly output: (typeof OUTPUTS)[number];
  readonly only?: (typeof KINDS)[number];
  readonly config?: string;
  readonly kubeVersion?: string;
  readonly cluster?: boolean;
  readonly kubeconfig?: string;
  readonly context?: string;
}

export function exportPoliciesCommand(io: CliIo, setExitCode: SetExitCode): Command {
  return new Command("export-policies")
    .description(
      "Print the rules that need no other object (malformed-pod-name, external-traffic-policy, " +
        "missing-labels) as ValidatingAdmissionPolicy and MutatingAdmissionPolicy objects with " +
        "bindings, for the API server to enforce while the webhook is down.\n" +
        "The Kubernetes version decides the API versions: --kube-version, else the config's " +
        "kubeVersion, else the cluster's with --cluster; one of them is required.",
    )
    .option("--kube-version <version>", "Kubernetes version of the target cluster, e.g. 1.30")
    .option("--config <file>", "configuration file (the same as the webhook's)")
    .option("--cluster", "read the Kubernetes version from the cluster (kubeconfig)")
    .option("--kubeconfig <file>", "kubeconfig file for --cluster (implies --cluster)")
    .option("--context <name>", "kubeconfig context for --cluster (implies --cluster)")
    .addOption(new Option("--only <kind>", "export only one kind of policy").choices(KINDS))
    .addOption(
      new Option("-o, --output <format>", "output format").choices(OUTPUTS).default("yaml"),
    )
    .action(async (flags: ExportFlags) => {
      setExitCode(await runExportPolicies(flags, io));
    });
}

async function runExportPolicies(flags: ExportFlags, io: CliIo): Promise<number> {
  const config = flags.config
    ? await loadConfigFile(path.resolve(io.cwd, flags.config))
    : defaultConfig;
  const kubeVersion = await resolveKubeVersion(flags, config.kubeVersion, io);
  const result = exportAdmissionPolicies(config.policy, {
    kubeVersion,
    ...(flags.only ? { only: flags.only } : {}),
  });
  for (const note of result.notes) io.stderr.write(`stsguard: note: ${toSafeText(note)}\n`);
  const version = `${kubeVersion.major}.${kubeVersion.minor}`;
  if (flags.output === "json") {
    const list = { apiVersion: "v1", kind: "List", items: result.objects };
    io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  } else {
    const documents = result.objects.map((object) => stringify(object, { lineWidth: 0 }));
    io.stdout.write(
      `# stsguard export-policies for Kubernetes ${version}\n---\n${documents.join("---\n")}`,
    );
  }
  return EXIT_OK;
}

/** The flag, else the config file's, else the cluster's; never a guess, since API versions differ. */
async function resolveKubeVersion(
  flags: ExportFlags,
  fromConfig: KubeVersion | null,
  io: CliIo,
): Promise<KubeVersion> {
  if (flags.kubeVersion !== undefined) return parseKubeVersion(flags.kubeVersion, "--kube-version");
  if (fromConfig) return fromConfig;
  const wantsCluster =
    flags.cluster === true || flags.kubeconfig !== undefined || flags.context !== undefined;
  if (!wantsCluster) {
    throw new UsageError(
      "export-policies needs the target Kubernetes version, which decides the policies' API " +
        "versions: give --kube-version (e.g. 1.30), kubeVersion in --config, or --cluster",
    );
  }
  // Loaded only for --cluster: the Kubernetes client costs start-up time.
  const { connectCluster } = await import("../cluster-connection.js");
  const cluster = connectCluster({
    kubeconfig: flags.kubeconfig === undefined ? undefined : path.resolve(io.cwd, flags.kubeconfig),
    context: flags.context,
    env: io.env,
  });
  try {
    return await cluster.readKubeVersion();
  } catch (error: unknown) {
    throw new LookupError(
      `cannot read the Kubernetes version from the cluster (or give --kube-version): ${describeError(error)}`,
      { cause: error },
    );
  } finally {
    await cluster.close();
  }
}
