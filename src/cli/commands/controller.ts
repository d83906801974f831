import { Command, Option } from "commander";
import { parseLogLevel } from "../../observability/logger.js";
import { EXIT_OK, type CliIo, type SetExitCode } from "../io.js";
import { parsePort, waitForStopSignal } from "./serve.js";

/** Each flag has an environment variable; a flag wins over its variable. */
const CONTROLLER_OPTIONS = [
  [
    "kubeconfig",
    "--kubeconfig <file>",
    "STSGUARD_KUBECONFIG",
    "kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)",
  ],
  ["context", "--context <name>", "STSGUARD_CONTEXT", "kubeconfig context"],
  [
    "config",
    "--config <file>",
    "STSGUARD_CONFIG",
    "stsguard configuration file (YAML; its controller: limits are reloaded on change)",
  ],
  [
    "approvalKeyFile",
    "--approval-key-file <file>",
    "STSGUARD_APPROVAL_KEY_FILE",
    "key the webhook approves expose annotations with (required: unapproved exposure is never acted on)",
  ],
  [
    "leaderElectionNamespace",
    "--leader-election-namespace <ns>",
    "STSGUARD_LEADER_ELECTION_NAMESPACE",
    "namespace of the Lease (default: POD_NAMESPACE, the pod's namespace, or default)",
  ],
  [
    "metricsPort",
    "--metrics-port <port>",
    "STSGUARD_METRICS_PORT",
    'plain HTTP port for /metrics, /healthz, /readyz ("off": none; default 9090)',
  ],
  [
    "host",
    "--host <address>",
    "STSGUARD_HOST",
    "address the metrics port listens on (default: every interface)",
  ],
  [
    "logLevel",
    "--log-level <level>",
    "STSGUARD_LOG_LEVEL",
    "fatal, error, warn, info, debug, trace or silent (default info)",
  ],
] as const;

type Key = (typeof CONTROLLER_OPTIONS)[number][0];

/** `stsguard controller`: the per-pod Service controller alone, without the webhook. */
export function controllerCommand(io: CliIo, setExitCode: SetExitCode): Command {
  const command = new Command("controller").description(
    "Run the per-pod Service controller alone (the chart's controller Deployment): keep one Service per pod of StatefulSets annotated <prefix>/expose.",
  );
  for (const [, flags, env, help] of CONTROLLER_OPTIONS)
    command.addOption(new Option(flags, `${help} [${env}]`));
  return command.action(async (flags: Partial<Record<Key, string>>) => {
    const read = (key: Key): { value: string | undefined; where: string } => {
      const option = CONTROLLER_OPTIONS.find(([name]) => name === key);
      const flag = option?.[1].split(" ")[0] ?? key;
      if (flags[key] !== undefined) return { value: flags[key], where: flag };
      const fromEnv = option ? io.env[option[2]] : undefined;
      return fromEnv
        ? { value: fromEnv, where: option?.[2] ?? key }
        : { value: undefined, where: flag };
    };
    const metrics = read("metricsPort");
    const logLevel = read("logLevel");
    const settings = {
      kubeconfig: read("kubeconfig").value,
      context: read("context").value,
      configFile: read("config").value,
      approvalKeyFile: read("approvalKeyFile").value,
      leaderElectionNamespace: read("leaderElectionNamespace").value,
      metricsPort:
        metrics.value === "off" ? null : parsePort(metrics.value ?? "9090", metrics.where),
      host: read("host").value,
      logLevel: parseLogLevel(logLevel.value ?? "info", logLevel.where),
    };
    const stop = waitForStopSignal();
    try {
      const { runController } = await import("../../controller/run-controller.js");
      await runController(settings, {
        cwd: io.cwd,
        env: io.env,
        stopRequested: stop.stopRequested,
      });
    } finally {
      stop.dispose();
    }
    setExitCode(EXIT_OK);
  });
}
