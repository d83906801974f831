import { Command, InvalidArgumentError, Option } from "commander";
import { judgeCluster, type AuditResult } from "../../audit/judge.js";
import { UsageError } from "../../errors.js";
import { usesNamespaceLabels } from "../../guardrails/index.js";
import type { InputProblem } from "../../manifests/read.js";
import {
  REPORT_APIS,
  REPORT_RESOURCES,
  buildReports,
  type ReportApi,
} from "../../policy-reports/build.js";
import { EXIT_USAGE, type CliIo, type SetExitCode } from "../io.js";
import { preparePolicy } from "../policy-options.js";
import { OUTPUT_FORMATS, render, type OutputFormat } from "../reports/render.js";
import { toSafeText } from "../reports/safe-text.js";
import { pluralize, renderProblems } from "../reports/text.js";
import { toExitCode } from "./check.js";

interface AuditFlags {
  readonly namespace: string[];
  readonly allNamespaces?: boolean;
  readonly output: OutputFormat;
  readonly strict?: boolean;
  readonly config?: string;
  readonly kubeVersion?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly chunkSize: number;
  readonly policyReports?: boolean;
  readonly reportApi: ReportApi;
}

export function auditCommand(io: CliIo, setExitCode: SetExitCode): Command {
  return new Command("audit")
    .description(
      "Judge a live cluster: every per-pod Service and every StatefulSet, with the webhook's " +
        "rules, modes and exemptions (the requesting user is unknown here). Read-only unless " +
        "--policy-reports.\n" +
        "Exit status: 0 clean, 1 errors (or warnings with --strict), 2 usage, connection or write errors.",
    )
    .addOption(
      new Option(
        "-n, --namespace <name>",
        "audit this namespace only (repeatable: every namespace named is audited)",
      )
        .argParser((value: string, previous: string[]) => {
          if (value === "") throw new InvalidArgumentError("must not be empty");
          return [...previous, value];
        })
        .default([], "all namespaces"),
    )
    .addOption(
      new Option("-A, --all-namespaces", "audit every namespace (the default, as kubectl's -A)")
        // kubectl get lets -A override -n silently; here the scope decides which policy
        // reports are written and deleted, so asking for both is a mistake said out loud.
        .conflicts("namespace"),
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("text"),
    )
    .option("--strict", "fail (exit 1) on warnings too")
    .option("--config <file>", "configuration file (the same as the webhook's)")
    .option(
      "--kube-version <version>",
      "Kubernetes version to assume, e.g. 1.29 (default: the config's kubeVersion, else the cluster's)",
    )
    .option(
      "--kubeconfig <file>",
      "kubeconfig file (default: in-cluster, KUBECONFIG, ~/.kube/config)",
    )
    .option("--context <name>", "kubeconfig context")
    .option("--chunk-size <n>", "objects per list page (limit/continue)", parseChunkSize, 500)
    .option(
      "--policy-reports",
      "write the results as one policy report per namespace, named stsguard",
    )
    .addOption(
      new Option("--report-api <api>", "report API for --policy-reports")
        .choices(REPORT_APIS)
        .default("wgpolicyk8s"),
    )
    .action(async (flags: AuditFlags) => {
      setExitCode(await runAudit(flags, io));
    });
}

function parseChunkSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

async function runAudit(flags: AuditFlags, io: CliIo): Promise<number> {
  const setup = await preparePolicy(
    {
      namespace: "default",
      cluster: true,
      ...(flags.config === undefined ? {} : { config: flags.config }),
      ...(flags.kubeVersion === undefined ? {} : { kubeVersion: flags.kubeVersion }),
      ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
      ...(flags.context === undefined ? {} : { context: flags.context }),
    },
    io,
  );
  const cluster = setup.cluster;
  if (!cluster) throw new UsageError("audit needs a cluster");
  // Loaded here, not with the CLI: the Kubernetes client is ~0.2 s of start-up that `check`, and
  // `serve` before it has the config to know it needs a cluster, would pay for nothing.
  const [{ createKubeTransport }, { readClusterObjects }, { checkReportsServed, writeReports }] =
    await Promise.all([
      import("../../kube/client.js"),
      import("../../audit/read-cluster.js"),
      import("../../policy-reports/write.js"),
    ]);
  try {
    const transport = createKubeTransport(cluster.kubeConfig);
    // A missing CRD is said in one line before anything is read, printed or written.
    if (flags.policyReports === true) {
      await checkReportsServed(transport, REPORT_RESOURCES[flags.reportApi]);
    }
    const objects = await readClusterObjects(transport, {
      namespaces: flags.namespace,
      chunkSize: flags.chunkSize,
      namespaceLabels: usesNamespaceLabels(setup.config.guardrails),
    });
    const now = new Date();
    const result = judgeCluster(objects, setup.config, now);
    const problems = describeUnevaluated(result, transport.server);
    io.stdout.write(await render(flags.output, result.report, problems, setup.config.policy, io));
    if (flags.output !== "github") io.stderr.write(renderProblems(problems));
    const namespaces = new Set(result.objects.map((o) => o.namespace)).size;
    const { statefulSets, perPodServices } = result.counts;
    io.stderr.write(
      `stsguard audit: judged ${pluralize(statefulSets + perPodServices, "object")} ` +
        `(${pluralize(statefulSets, "StatefulSet")}, ${pluralize(perPodServices, "per-pod Service")}) ` +
        `in ${pluralize(namespaces, "namespace")}, read in ${pluralize(objects.pages, "page")} ` +
        `from ${transport.server}\n`,
    );
    let code = toExitCode(result.report, problems, flags.strict === true);
    if (flags.policyReports === true) {
      const resource = REPORT_RESOURCES[flags.reportApi];
      const reports = buildReports(result.objects, flags.reportApi, now);
      const written = await writeReports(transport, reports, {
        resource,
        namespaces: flags.namespace,
      });
      io.stderr.write(
        `stsguard audit: ${resource.kind} stsguard: ${written.created.length} created, ` +
          `${written.updated.length} updated, ${written.deleted.length} deleted\n`,
      );
      for (const failure of written.failed) {
        io.stderr.write(
          `stsguard audit: error: ${resource.kind} ${toSafeText(failure.namespace)}/stsguard: ${toSafeText(failure.reason)}\n`,
        );
      }
      if (written.failed.length > 0) code = EXIT_USAGE;
    }
    return code;
  } finally {
    await cluster.close();
  }
}

/** Exemptions that match on the requesting user or groups cannot be judged here: say which. */
function describeUnevaluated(result: AuditResult, server: string): InputProblem[] {
  return result.unevaluated.map((u) => ({
    file: server,
    severity: "warning",
    message:
      `exemption ${u.name} could not be evaluated: it matches on ${u.missing.join(" and ")}, ` +
      `which audit does not know; the errors it might lift (${u.rules.join(", ")}) stay errors`,
  }));
}
