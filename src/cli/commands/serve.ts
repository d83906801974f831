import { Command, Option } from "commander";
import { parseKubeVersion } from "../../config/config.js";
import { ConfigError, UsageError } from "../../errors.js";
import { parseLogLevel } from "../../observability/logger.js";
import {
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_DRAIN_DELAY_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
} from "../../server/limits.js";
import type { ServeSettings } from "../../server/serve.js";
import { optimizeHotPathSooner } from "../../server/jit-tiering.js";
import { EXIT_OK, type CliIo, type SetExitCode } from "../io.js";
import { helpFor } from "../program-name.js";

/** Every serve flag has a matching environment variable; a flag wins over its variable. */
const SERVE_OPTIONS = [
  {
    key: "port",
    flags: "--port <port>",
    env: "STSGUARD_PORT",
    fallback: "8443",
    help: "HTTPS port for admission",
  },
  {
    key: "host",
    flags: "--host <address>",
    env: "STSGUARD_HOST",
    fallback: undefined,
    help: "address to listen on (default: every interface)",
  },
  {
    key: "tlsCert",
    flags: "--tls-cert <file>",
    env: "STSGUARD_TLS_CERT",
    fallback: undefined,
    help: "serving certificate (PEM); reloaded when it changes",
  },
  {
    key: "tlsKey",
    flags: "--tls-key <file>",
    env: "STSGUARD_TLS_KEY",
    fallback: undefined,
    help: "its private key (PEM)",
  },
  {
    key: "clientCa",
    flags: "--client-ca <file>",
    env: "STSGUARD_CLIENT_CA",
    fallback: undefined,
    help: "require on the HTTPS port a client certificate this CA (PEM) signed, as the API server presents it (docs/security.md); reloaded when it changes; the metrics port stays open",
  },
  {
    key: "manifests",
    flags: "--manifests <dir>",
    env: "STSGUARD_MANIFESTS",
    fallback: undefined,
    help: "read StatefulSets from manifests in DIR instead of a cluster",
  },
  {
    key: "kubeconfig",
    flags: "--kubeconfig <file>",
    env: "STSGUARD_KUBECONFIG",
    fallback: undefined,
    help: "kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)",
  },
  {
    key: "context",
    flags: "--context <name>",
    env: "STSGUARD_CONTEXT",
    fallback: undefined,
    help: "kubeconfig context",
  },
  {
    key: "config",
    flags: "--config <file>",
    env: "STSGUARD_CONFIG",
    fallback: undefined,
    help: "stsguard configuration file (YAML)",
  },
  {
    key: "metricsPort",
    flags: "--metrics-port <port>",
    env: "STSGUARD_METRICS_PORT",
    fallback: "9090",
    help: 'plain HTTP port for /metrics, /healthz, /readyz ("off": none)',
  },
  {
    key: "kubeVersion",
    flags: "--kube-version <version>",
    env: "STSGUARD_KUBE_VERSION",
    fallback: undefined,
    help: "Kubernetes version to assume, e.g. 1.29 (default: ask the API server; 1.36 offline)",
  },
  {
    key: "controller",
    flags: "--controller",
    env: "STSGUARD_CONTROLLER",
    fallback: undefined,
    help: "also keep per-pod Services of StatefulSets annotated <prefix>/expose (leader-elected; needs a cluster)",
  },
  {
    key: "leaderElectionNamespace",
    flags: "--leader-election-namespace <ns>",
    env: "STSGUARD_LEADER_ELECTION_NAMESPACE",
    fallback: undefined,
    help: "namespace of the controller's Lease (default: POD_NAMESPACE, the pod's namespace, or default)",
  },
  {
    key: "approvalKeyFile",
    flags: "--approval-key-file <file>",
    env: "STSGUARD_APPROVAL_KEY_FILE",
    fallback: undefined,
    help: "key that approves expose annotations at admission (StatefulSets, /mutate) and that the controller checks them with",
  },
  {
    key: "bodyBudget",
    flags: "--body-budget <bytes>",
    env: "STSGUARD_BODY_BUDGET",
    fallback: undefined,
    help: "memory budget for admission request bodies in flight, e.g. 32Mi; beyond it requests wait, then get 429 (default: from the container's memory limit)",
  },
  {
    key: "bodyBudgetWait",
    flags: "--body-budget-wait <ms>",
    env: "STSGUARD_BODY_WAIT_MS",
    fallback: "2000",
    help: "how long a request waits for room in the body budget before its 429",
  },
  {
    key: "logLevel",
    flags: "--log-level <level>",
    env: "STSGUARD_LOG_LEVEL",
    fallback: "info",
    help: "fatal, error, warn, info, debug, trace or silent",
  },
  {
    key: "drainDelay",
    flags: "--drain-delay <duration>",
    env: "STSGUARD_DRAIN_DELAY",
    fallback: formatSeconds(DEFAULT_DRAIN_DELAY_MS),
    help: "after SIGTERM, keep serving this long while /readyz answers 503",
  },
  {
    key: "shutdownTimeout",
    flags: "--shutdown-timeout <duration>",
    env: "STSGUARD_SHUTDOWN_TIMEOUT",
    fallback: formatSeconds(DEFAULT_SHUTDOWN_TIMEOUT_MS),
    help: "after the drain, how long in-flight requests may take before connections are cut",
  },
  {
    key: "handshakeTimeout",
    flags: "--handshake-timeout <duration>",
    env: "STSGUARD_HANDSHAKE_TIMEOUT",
    fallback: formatSeconds(DEFAULT_CONNECTION_LIMITS.handshakeTimeoutMs),
    help: "close a connection that has not finished its TLS handshake by then",
  },
  {
    key: "headersTimeout",
    flags: "--headers-timeout <duration>",
    env: "STSGUARD_HEADERS_TIMEOUT",
    fallback: formatSeconds(DEFAULT_CONNECTION_LIMITS.headersTimeoutMs),
    help: "answer 408 and close when a request's headers take longer (a new connection's first request: counted from the TCP accept, TLS handshake included)",
  },
  {
    key: "requestTimeout",
    flags: "--request-timeout <duration>",
    env: "STSGUARD_REQUEST_TIMEOUT",
    fallback: formatSeconds(DEFAULT_CONNECTION_LIMITS.requestTimeoutMs),
    help: "answer 408 and close when a whole request, body included, takes longer",
  },
  {
    key: "keepAliveTimeout",
    flags: "--keep-alive-timeout <duration>",
    env: "STSGUARD_KEEP_ALIVE_TIMEOUT",
    fallback: formatSeconds(DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs),
    help: "close a kept-alive connection idle this long (keep it above the API server's 90 s)",
  },
  {
    key: "maxConnections",
    flags: "--max-connections <count>",
    env: "STSGUARD_MAX_CONNECTIONS",
    fallback: String(DEFAULT_CONNECTION_LIMITS.maxConnections),
    help: "connections per port beyond this many are closed on arrival",
  },
] as const;

type ServeOptionKey = (typeof SERVE_OPTIONS)[number]["key"];
type ServeFlags = Partial<Record<ServeOptionKey, string | boolean>>;

const HELP_AFTER = `
Environment variables (a flag wins over its variable):
${SERVE_OPTIONS.map((o) => `  ${o.env.padEnd(28)}${o.flags.split(" ")[0] ?? ""}`).join("\n")}
  KUBECONFIG                  kubeconfig files, as kubectl reads them

Endpoints:
  HTTPS --port          POST /mutate, POST /validate (AdmissionReview v1), GET /healthz, GET /readyz, GET /metrics
  HTTP --metrics-port   GET /metrics, GET /healthz, GET /readyz
  /readyz answers 503 until the StatefulSet cache has synced, and again once shutdown began.

Durations: 5s, 500ms, 2m, or a plain number of seconds.

Without --tls-cert/--tls-key, development certificates for localhost and 127.0.0.1 are made
(or reused) under ./certs, and a ready-to-paste curl example is printed.
Logs are JSON lines on stdout. SIGTERM or SIGINT: /readyz turns 503 and answers carry
Connection: close; after --drain-delay stop accepting, finish in-flight requests, exit 0.

Examples:
  stsguard serve --manifests examples/manifests
  stsguard serve --tls-cert /tls/tls.crt --tls-key /tls/tls.key --config /etc/stsguard/config.yaml
`;

/** `stsguard serve`: the admission webhook server. */
export function serveCommand(io: CliIo, setExitCode: SetExitCode): Command {
  const command = new Command("serve").description(
    "Run the admission webhook (mutating and validating) over HTTPS.",
  );
  for (const option of SERVE_OPTIONS) {
    const fallback = option.fallback === undefined ? "" : ` (default ${option.fallback})`;
    command.addOption(new Option(option.flags, option.help + fallback));
  }
  return command
    .addHelpText("after", ({ command }) => helpFor(HELP_AFTER, command))
    .action(async (flags: ServeFlags) => {
      const settings = resolveSettings(flags, io.env);
      const stop = waitForStopSignal();
      try {
        // Loaded on use: the server and its dependencies would slow every other command's start.
        const { runServe } = await import("../../server/serve.js");
        await runServe(settings, {
          cwd: io.cwd,
          env: io.env,
          stderr: io.stderr,
          // No logDestination: the logger's own, which writes to stdout off the request's path and
          // bounds what waits when the reader stalls (process.stdout would queue without limit).
          stopRequested: stop.stopRequested,
          // Once synced, so that start-up's one-off work (the cluster's lists) is not compiled
          // with TurboFan too: that cost ~4 MiB at ready for no gain. From then on the request
          // path reaches V8's optimizing compiler within the first requests, not after 10,000+.
          onSynced: () => {
            optimizeHotPathSooner();
          },
        });
      } finally {
        stop.dispose();
      }
      setExitCode(EXIT_OK);
    });
}

/** Flags, then environment variables, then defaults; errors name the flag or variable. */
function resolveSettings(
  flags: ServeFlags,
  env: Readonly<Record<string, string | undefined>>,
): ServeSettings {
  const read = (key: ServeOptionKey): { value: string | undefined; where: string } => {
    const option = SERVE_OPTIONS.find((o) => o.key === key);
    if (!option) throw new UsageError(`unknown option ${key}`);
    const flag = option.flags.split(" ")[0] ?? key;
    const given = flags[key];
    // A switch (--controller) comes as true; spelled as its variable's value it is "true".
    if (given !== undefined) return { value: given === true ? "true" : String(given), where: flag };
    const fromEnv = env[option.env];
    if (fromEnv !== undefined && fromEnv !== "") return { value: fromEnv, where: option.env };
    return { value: option.fallback, where: flag };
  };
  const text = (key: ServeOptionKey): string | undefined => read(key).value;
  const duration = (key: ServeOptionKey, minimumMs = 0): number => {
    const { value, where } = read(key);
    return parseDuration(value ?? "", where, minimumMs);
  };
  const manifests = text("manifests");
  if (
    manifests !== undefined &&
    (text("kubeconfig") !== undefined || text("context") !== undefined)
  ) {
    throw new UsageError(
      "--manifests reads StatefulSets from files, --kubeconfig/--context from a cluster: give one",
    );
  }
  const controller = parseSwitch(read("controller"));
  if (controller && manifests !== undefined) {
    throw new UsageError(
      "--controller writes Services to a cluster; it cannot run with --manifests (give --kubeconfig or run in a pod)",
    );
  }
  const port = read("port");
  const metricsPort = read("metricsPort");
  const kubeVersion = read("kubeVersion");
  const logLevel = read("logLevel");
  const bodyBudget = read("bodyBudget");
  const bodyBudgetWait = read("bodyBudgetWait");
  return {
    host: text("host"),
    port: parsePort(port.value ?? "8443", port.where),
    metricsPort:
      metricsPort.value === "off"
        ? null
        : parsePort(metricsPort.value ?? "9090", metricsPort.where),
    tlsCertFile: text("tlsCert"),
    tlsKeyFile: text("tlsKey"),
    clientCaFile: text("clientCa"),
    manifestsDir: manifests,
    kubeconfig: text("kubeconfig"),
    context: text("context"),
    configFile: text("config"),
    kubeVersion:
      kubeVersion.value === undefined
        ? undefined
        : parseKubeVersion(kubeVersion.value, kubeVersion.where),
    logLevel: parseLogLevel(logLevel.value ?? "info", logLevel.where),
    drainDelayMs: duration("drainDelay"),
    shutdownTimeoutMs: duration("shutdownTimeout"),
    limits: {
      handshakeTimeoutMs: duration("handshakeTimeout", 1),
      headersTimeoutMs: duration("headersTimeout", 1),
      requestTimeoutMs: duration("requestTimeout", 1),
      keepAliveTimeoutMs: duration("keepAliveTimeout", 1),
      maxConnections: parseCount(read("maxConnections")),
    },
    controller,
    leaderElectionNamespace: text("leaderElectionNamespace"),
    approvalKeyFile: text("approvalKeyFile"),
    bodyBudgetBytes: bodyBudget.value === undefined ? undefined : parseBytes(bodyBudget),
    bodyBudgetWaitMs: parseMilliseconds(bodyBudgetWait),
  };
}

/** Milliseconds from `5s`, `500ms`, `2m` or a plain number of seconds. */
export function parseDuration(value: string, where: string, minimumMs = 0): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(value.trim());
  const unit = match?.[2] ?? "s";
  const ms = match ? Number(match[1]) * (unit === "ms" ? 1 : unit === "s" ? 1_000 : 60_000) : NaN;
  if (!Number.isFinite(ms) || ms < minimumMs || ms > MAX_DURATION_MS) {
    throw new ConfigError(
      `${where}: "${value}" is not a duration${minimumMs > 0 ? " above 0" : ""} ` +
        `(e.g. 5s, 500ms, 2m, or seconds; at most 1h)`,
    );
  }
  return Math.round(ms);
}

const MAX_DURATION_MS = 3_600_000;

function parseCount({ value, where }: { value: string | undefined; where: string }): number {
  const count = /^\d{1,9}$/.test((value ?? "").trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(count) || count < 1) {
    throw new ConfigError(`${where}: "${value ?? ""}" is not a positive whole number`);
  }
  return count;
}

function formatSeconds(ms: number): string {
  return `${ms / 1000}s`;
}

function parseSwitch({ value, where }: { value: string | undefined; where: string }): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  throw new ConfigError(`${where}: "${value}" is not true or false`);
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/** A byte count as Kubernetes quantities write it: 33554432, 32Mi, 512Ki, 1Gi. */
function parseBytes({ value, where }: { value: string | undefined; where: string }): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec((value ?? "").trim());
  const bytes = match ? Number(match[1]) * (BYTE_UNITS[match[2] ?? ""] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ConfigError(`${where}: "${value}" is not a byte count (e.g. 33554432, 32Mi, 1Gi)`);
  }
  return bytes;
}

function parseMilliseconds({ value, where }: { value: string | undefined; where: string }): number {
  const ms = /^\d{1,7}$/.test((value ?? "").trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(ms)) {
    throw new ConfigError(`${where}: "${value}" is not a number of milliseconds (0-9999999)`);
  }
  return ms;
}

export function parsePort(value: string, where: string): number {
  const port = /^\d{1,5}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(port) || port > 65535) {
    throw new ConfigError(
      `${where}: "${value}" is not a port number (0-65535; 0 picks a free one)`,
    );
  }
  return port;
}

/**
 * Resolves on the first SIGTERM or SIGINT, then lets go of both, so a second Ctrl-C during a
 * slow drain stops the process at once (Node's default action).
 */
export function waitForStopSignal(): { stopRequested: Promise<string>; dispose: () => void } {
  let dispose = (): void => undefined;
  const stopRequested = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      dispose();
      resolve(signal);
    };
    dispose = (): void => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return { stopRequested, dispose };
}
