import path from "node:path";
import { Command, Option } from "commander";
import { stringify } from "yaml";
import { defaultConfig, loadConfigFile } from "../../config/config.js";
import { UsageError } from "../../errors.js";
import {
  generatePerPodServices,
  SERVICE_TYPES,
  type PerPodServiceType,
} from "../../manifests/per-pod-services.js";
import { readManifests } from "../../manifests/read.js";
import { EXIT_OK, EXIT_USAGE, type CliIo, type SetExitCode } from "../io.js";
import { renderProblems } from "../reports/text.js";

interface GenerateFlags {
  readonly type: PerPodServiceType;
  readonly port: string[];
  readonly config?: string;
  readonly namespace: string;
}

export function generateCommand(io: CliIo, setExitCode: SetExitCode): Command {
  return new Command("generate")
    .description(
      "Print correct per-pod Services (multi-document YAML) for every ordinal of the " +
        "StatefulSets in a manifest: type, ports, required labels, externalTrafficPolicy: Local " +
        "and a pod-name selector.",
    )
    .argument("<file>", "manifest holding StatefulSets, or - for standard input")
    .addOption(
      new Option("--type <type>", "Service type").choices(SERVICE_TYPES).default("LoadBalancer"),
    )
    .option(
      "--port <port>",
      "container port to expose, by number or name (repeatable; default: every container port)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--config <file>", "configuration file (label prefix and extra labels)")
    .option("-n, --namespace <name>", "namespace of StatefulSets that name none", "default")
    .action(async (file: string, flags: GenerateFlags) => {
      setExitCode(await runGenerate(file, flags, io));
    });
}

async function runGenerate(file: string, flags: GenerateFlags, io: CliIo): Promise<number> {
  const config = flags.config
    ? await loadConfigFile(path.resolve(io.cwd, flags.config))
    : defaultConfig;
  const read = await readManifests([file], {
    cwd: io.cwd,
    stdin: io.stdin,
    defaultNamespace: flags.namespace,
  });
  io.stderr.write(renderProblems(read.problems));
  const documents: string[] = [];
  let statefulSets = 0;
  for (const doc of read.documents) {
    const services = generatePerPodServices(doc.object, {
      type: flags.type,
      ports: flags.port,
      policy: config.policy,
      defaultNamespace: flags.namespace,
    });
    if (!services) continue;
    statefulSets += 1;
    for (const service of services) {
      documents.push(
        `# per-pod Service for StatefulSet ${doc.namespace}/${doc.name ?? ""}\n` +
          stringify(service, { lineWidth: 0 }),
      );
    }
  }
  if (statefulSets === 0 && !read.problems.some((p) => p.severity === "error")) {
    throw new UsageError(`no StatefulSet in ${file}`);
  }
  io.stdout.write(documents.join("---\n"));
  return read.problems.some((p) => p.severity === "error") ? EXIT_USAGE : EXIT_OK;
}
