import { Command, Option } from "commander";
import { readManifestObjects, type InputProblem } from "../../manifests/read.js";
import type { CheckReport } from "../../report/model.js";
import { checkManifests } from "../check-manifests.js";
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, type CliIo, type SetExitCode } from "../io.js";
import { addPolicyOptions, preparePolicy, type PolicyFlags } from "../policy-options.js";
import { OUTPUT_FORMATS, render, type OutputFormat } from "../reports/render.js";
import { renderProblems } from "../reports/text.js";
import { createStatefulSetResolver } from "../statefulset-resolver.js";

interface CheckFlags extends PolicyFlags {
  readonly output: OutputFormat;
  readonly strict?: boolean;
}

export function checkCommand(io: CliIo, setExitCode: SetExitCode): Command {
  const command = new Command("check")
    .description(
      "Check per-pod StatefulSet Services in manifests: files, directories (recursively: " +
        ".yaml, .yml, .json) and - for standard input.\n" +
        "Namespace modes and exemptions apply as in the webhook: in warn namespaces errors are " +
        "reported as warnings (they would not be denied); monitor and off namespaces report " +
        "nothing. Namespace labels come from Namespace objects among the inputs.\n" +
        "Exit status: 0 clean, 1 errors (or warnings with --strict), 2 usage or input errors.",
    )
    .argument("<paths...>", "manifest files, directories, or - for standard input")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("text"),
    )
    .option("--strict", "fail (exit 1) on warnings too");
  return addPolicyOptions(command).action(async (paths: string[], flags: CheckFlags) => {
    setExitCode(await runCheck(paths, flags, io));
  });
}

async function runCheck(paths: readonly string[], flags: CheckFlags, io: CliIo): Promise<number> {
  const setup = await preparePolicy(flags, io);
  try {
    const read = await readManifestObjects(paths, {
      cwd: io.cwd,
      stdin: io.stdin,
      defaultNamespace: setup.namespace,
    });
    const report = await checkManifests(read.documents, {
      config: setup.config.policy,
      defaultNamespace: setup.namespace,
      resolver: createStatefulSetResolver(read.documents, setup.namespace, setup.cluster?.source),
      guardrails: setup.config,
      now: new Date(),
    });
    const problems = [...read.problems, ...report.problems];
    io.stdout.write(await render(flags.output, report, problems, setup.config.policy, io));
    // Annotations already carry the problems; every other format keeps stdout machine-readable.
    if (flags.output !== "github") io.stderr.write(renderProblems(problems));
    return toExitCode(report, problems, flags.strict === true);
  } finally {
    await setup.cluster?.close();
  }
}

/** 2 on input errors, 1 on errors (or warnings with --strict), else 0; `audit` exits by it too. */
export function toExitCode(
  report: CheckReport,
  problems: readonly InputProblem[],
  strict: boolean,
): number {
  if (problems.some((p) => p.severity === "error")) return EXIT_USAGE;
  const { errors, warnings } = report.summary;
  if (errors > 0 || (strict && warnings > 0)) return EXIT_FINDINGS;
  return EXIT_OK;
}
