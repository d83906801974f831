import { relative, resolve } from "node:path";
import type { DestinationStream, Logger } from "pino";
import { LOCAL_DEV_DNS_NAMES, LOCAL_DEV_IP_ADDRESSES } from "../certs/names.js";
import {
  DEFAULT_KUBE_VERSION,
  defaultConfig,
  loadConfigFile,
  withKubeVersion,
  type StsguardConfig,
} from "../config/config.js";
import { countClusterFindings } from "../cluster-findings/count.js";
import { fixedConfig, watchConfigFile, type LiveConfig } from "../config/reload.js";
import { ConfigError } from "../errors.js";
import type { ClusterSnapshot, ClusterSourceHealth } from "../kube/cluster-source.js";
import { createStaticNamespaceSource, type NamespaceSource } from "../namespaces/source.js";
import {
  createBodyBudget,
  defaultBodyBudgetBytes,
  DEFAULT_BODY_BUDGET_WAIT_MS,
  type BodyBudget,
} from "../memory/body-budget.js";
import { readContainerMemoryLimit } from "../memory/container-memory.js";
import { createLogger, createStdoutLogDestination } from "../observability/logger.js";
import { createMetrics, type WebhookMetrics } from "../observability/metrics.js";
import type { KubeVersion, StatefulSetSummary } from "../policy/index.js";
import { createManifestSource } from "../statefulsets/manifest-source.js";
import type { StatefulSetSource } from "../statefulsets/source.js";
import type { KubeConfig } from "../kube/client.js";
import { buildCurlExample, buildDemoReview, toDemoTarget } from "./demo-request.js";
import type { ConnectionLimits } from "./limits.js";
import type { AdmitDeps } from "../admission/admit.js";
import { DEFAULT_MAX_BODY_BYTES } from "./admission-handler.js";
import { startServer, type RunningServer, type TlsSource } from "./server.js";

/** Everything `stsguard serve` was told, flags and environment merged (src/cli/commands/serve.ts). */
export interface ServeSettings {
  /** Undefined: every interface. */
  readonly host: string | undefined;
  readonly port: number;
  /** Null: no metrics server. */
  readonly metricsPort: number | null;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** `--client-ca`: admission callers must present a client certificate this CA signed. */
  readonly clientCaFile?: string | undefined;
  readonly manifestsDir: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly configFile: string | undefined;
  /** `--kube-version`: wins over the config file and the API server. */
  readonly kubeVersion: KubeVersion | undefined;
  readonly logLevel: string;
  /** After SIGTERM: how long to keep serving while /readyz says 503 (`--drain-delay`). */
  readonly drainDelayMs: number;
  /** After the drain: how long in-flight requests may take (`--shutdown-timeout`). */
  readonly shutdownTimeoutMs: number;
  /** Timeouts and the connection cap (`--handshake-timeout`, …, `--max-connections`). */
  readonly limits: ConnectionLimits;
  /** `--controller`: also keep per-pod Services of annotated StatefulSets (leader-elected). */
  readonly controller?: boolean;
  /** `--leader-election-namespace`: where the controller's Lease is. */
  readonly leaderElectionNamespace?: string | undefined;
  /**
   * `--approval-key-file`: the key that signs (admission) and checks (controller) approvals of
   * expose annotations (src/controller/approval.ts); undefined: none.
   */
  readonly approvalKeyFile?: string | undefined;
  /** `--body-budget`; undefined: derived from the container's memory limit. */
  readonly bodyBudgetBytes?: number | undefined;
  /** `--body-budget-wait`; undefined: DEFAULT_BODY_BUDGET_WAIT_MS. */
  readonly bodyBudgetWaitMs?: number | undefined;
}

export interface ServeEnvironment {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Human-readable start banner (URL, curl example); logs go to `logDestination`. */
  readonly stderr: { write(chunk: string): unknown };
  /** Undefined: stdout, written asynchronously with a bound on what may wait (createLogger). */
  readonly logDestination?: DestinationStream | undefined;
  /** Resolves when the server should stop (SIGTERM, SIGINT). */
  readonly stopRequested: Promise<string>;
  /**
   * Called once the StatefulSet source has finished starting (synced, or given up), when
   * start-up's one-off work is done and the request path is what runs from then on (the CLI
   * tunes V8 for it here).
   */
  readonly onSynced?: () => void;
}

/** Where development certificates go when no --tls-cert/--tls-key is given. */
export const DEV_CERTS_DIR = "certs";

/**
 * Runs the webhook until `stopRequested`, then drains it and closes the source. Startup
 * problems (bad config, no cluster, missing certificate) throw before anything listens.
 */
export async function runServe(
  settings: ServeSettings,
  environment: ServeEnvironment,
): Promise<void> {
  const stdout = environment.logDestination ? null : createStdoutLogDestination();
  const logger = createLogger({
    level: settings.logLevel,
    destination: stdout ?? environment.logDestination,
  });
  const fileConfig = settings.configFile
    ? await loadConfigFile(resolve(environment.cwd, settings.configFile))
    : defaultConfig;
  let source: StatefulSetSource | null = null;
  let opened: OpenedSource | null = null;
  let liveConfig: (LiveConfig & { close?: () => void }) | null = null;
  const metrics = createMetrics({
    isSourceReady: () => source?.isReady() ?? false,
    // At scrape time, from the caches: never per admission request.
    readClusterFindings: () => {
      const snapshot = opened?.readSnapshot?.() ?? null;
      const config = liveConfig?.current() ?? null;
      if (!snapshot || !config || !opened) return null;
      const namespaces = opened.namespaces;
      return countClusterFindings(snapshot, config, new Date(), (name) =>
        namespaces.cachedLabels(name),
      );
    },
    readCacheFreshness: () => {
      const health = opened?.readHealth?.();
      return health
        ? {
            statefulsets: health.statefulSetsFresh,
            services: health.servicesFresh,
            horizontalpodautoscalers: health.autoscalersFresh,
          }
        : null;
    },
    defaultMetrics: true,
  });
  stdout?.onDrop(() => {
    metrics.observeDroppedLogLine();
  });
  opened = await openSource(settings, environment, fileConfig, logger, metrics);
  source = opened.source;
  let running: RunningServer;
  try {
    // Precedence of the Kubernetes version: --kube-version, then the file (as it is now, after
    // any reload), then what the API server said at start.
    const prepare = (config: StsguardConfig): StsguardConfig =>
      withKubeVersion(config, settings.kubeVersion ?? config.kubeVersion ?? opened.kubeVersion);
    liveConfig = settings.configFile
      ? await watchConfigFile({
          path: resolve(environment.cwd, settings.configFile),
          logger,
          prepare,
          onReload: (event) => {
            metrics.observeConfigReload(event.outcome);
            if (event.config)
              metrics.setActiveConfig(event.hash, event.config.guardrails.exemptions);
          },
        })
      : fixedConfig(prepare(fileConfig));
    const config = liveConfig.current();
    logger.info(
      {
        kubeVersion: `${opened.kubeVersion.major}.${opened.kubeVersion.minor}`,
        kubeVersionFrom: opened.kubeVersionFrom,
        onLookupFailure: config.onLookupFailure,
        config: settings.configFile ?? "defaults",
        hash: liveConfig.hash(),
        mode: config.guardrails.mode,
        namespaceRules: config.guardrails.namespaces.length,
        exemptions: config.guardrails.exemptions.map((e) => e.name),
      },
      "policy configured",
    );
    const tls = await selectTls(settings, environment.cwd, logger);
    const bodyBudget = createServeBodyBudget(settings, metrics);
    logger.info(
      { bodyBudgetBytes: bodyBudget.maxBytes, bodyBudgetWaitMs: bodyBudget.maxWaitMs },
      "request body budget",
    );
    const exposeApproval = await createApprovalGate(settings, opened, liveConfig, logger);
    running = await startServer({
      source,
      namespaces: opened.namespaces,
      ...(exposeApproval ? { exposeApproval } : {}),
      config: liveConfig,
      logger,
      metrics,
      bodyBudget,
      tls: tls.source,
      host: settings.host,
      port: settings.port,
      metricsPort: settings.metricsPort,
      drainDelayMs: settings.drainDelayMs,
      shutdownTimeoutMs: settings.shutdownTimeoutMs,
      limits: settings.limits,
    });
    environment.stderr.write(
      describeStart(running, tls, environment.cwd, opened.statefulSets, config),
    );
    // The start-up lines go out now, not with the first batch of admission lines.
    stdout?.flush();
    const { onSynced } = environment;
    if (onSynced) void opened.synced.then(onSynced);
  } catch (error: unknown) {
    liveConfig?.close?.();
    await Promise.all([source.close(), opened.namespaces.close()]);
    throw error;
  }
  // The controller builds Services with the label settings of its start (prefix, extra labels);
  // its `controller:` limits are read at every reconcile, so a reload applies at once.
  const controller = await startController(
    settings,
    environment,
    opened,
    liveConfig,
    logger,
    metrics,
  );
  const signal = await environment.stopRequested;
  logger.info(
    { signal, drainDelayMs: settings.drainDelayMs, shutdownTimeoutMs: settings.shutdownTimeoutMs },
    "shutting down: draining, then finishing in-flight requests",
  );
  try {
    // The controller stops writing and releases its Lease while requests drain.
    await Promise.all([running.close(), controller?.close()]);
  } finally {
    liveConfig.close?.();
    await Promise.all([source.close(), opened.namespaces.close()]);
  }
}

/**
 * With `--approval-key-file` and a cluster: /mutate of StatefulSets checks who sets expose
 * annotations and approves them for the controller (src/controller/approval-admission.ts).
 */
async function createApprovalGate(
  settings: ServeSettings,
  opened: OpenedSource,
  config: LiveConfig,
  logger: Logger,
): Promise<AdmitDeps["exposeApproval"] | null> {
  if (settings.approvalKeyFile === undefined || !opened.kubeConfig) return null;
  const [{ readApprovalKey }, { createExposeApproval }, { createKubeTransport }] =
    await Promise.all([
      import("../controller/approval.js"),
      import("../controller/approval-admission.js"),
      import("../kube/client.js"),
    ]);
  const key = readApprovalKey(settings.approvalKeyFile);
  if (!key) return null;
  return createExposeApproval({
    transport: createKubeTransport(opened.kubeConfig),
    key,
    labelPrefix: () => config.current().policy.labelPrefix,
    logger,
  });
}

/** The per-pod Service controller (src/controller), when `--controller` asks for it. */
async function startController(
  settings: ServeSettings,
  environment: ServeEnvironment,
  opened: OpenedSource,
  config: LiveConfig,
  logger: Logger,
  metrics: WebhookMetrics,
): Promise<{ close(): Promise<void> } | null> {
  if (!settings.controller || !opened.kubeConfig) return null;
  const { startServeController } = await import("../controller/serve-controller.js");
  const namespaces = opened.namespaces;
  return startServeController({
    kubeConfig: opened.kubeConfig,
    logger,
    policy: config.current().policy,
    limits: () => config.current().controller,
    namespaceLabels: (namespace) => namespaces.cachedLabels(namespace),
    approvalKeyFile: settings.approvalKeyFile,
    registry: metrics.registry,
    env: environment.env,
    leaseNamespace: settings.leaderElectionNamespace,
  });
}

function createServeBodyBudget(settings: ServeSettings, metrics: WebhookMetrics): BodyBudget {
  return createBodyBudget({
    maxBytes:
      settings.bodyBudgetBytes ??
      defaultBodyBudgetBytes(readContainerMemoryLimit(), DEFAULT_MAX_BODY_BYTES),
    maxWaitMs: settings.bodyBudgetWaitMs ?? DEFAULT_BODY_BUDGET_WAIT_MS,
    metrics: metrics.bodyBudget,
  });
}

interface OpenedSource {
  readonly source: StatefulSetSource;
  /** Namespace labels: Namespace objects among the manifests, or a cache of the cluster's. */
  readonly namespaces: NamespaceSource;
  readonly kubeVersion: KubeVersion;
  readonly kubeVersionFrom: "--kube-version" | "config file" | "API server" | "default";
  /** Known StatefulSets, for the banner's example; empty for a cluster. */
  readonly statefulSets: readonly StatefulSetSummary[];
  /** Settles once the StatefulSet source has synced or given up (at once for manifests). */
  readonly synced: Promise<void>;
  /** The cluster's, for the controller; undefined with --manifests. */
  readonly kubeConfig?: KubeConfig;
  /** The cluster caches, for the findings gauge; absent without a cluster. */
  readonly readSnapshot?: () => ClusterSnapshot | null;
  /** The cluster caches' health, for `stsguard_cache_fresh`; absent without a cluster. */
  readonly readHealth?: () => ClusterSourceHealth;
}

/** --manifests DIR (offline), else the cluster from --kubeconfig, KUBECONFIG, ~/.kube or the pod. */
async function openSource(
  settings: ServeSettings,
  environment: ServeEnvironment,
  config: StsguardConfig,
  logger: Logger,
  metrics: WebhookMetrics,
): Promise<OpenedSource> {
  const configured = settings.kubeVersion
    ? { kubeVersion: settings.kubeVersion, kubeVersionFrom: "--kube-version" as const }
    : config.kubeVersion
      ? { kubeVersion: config.kubeVersion, kubeVersionFrom: "config file" as const }
      : null;
  if (settings.manifestsDir !== undefined) {
    const source = await createManifestSource(settings.manifestsDir, {
      cwd: environment.cwd,
      logger,
    });
    return {
      source,
      namespaces: createStaticNamespaceSource(source.namespaces),
      statefulSets: source.statefulSets,
      synced: Promise.resolve(),
      ...(configured ?? { kubeVersion: DEFAULT_KUBE_VERSION, kubeVersionFrom: "default" }),
    };
  }
  // Loaded only for a cluster: @kubernetes/client-node alone is ~20 MB of heap, which an
  // offline server would carry (and the garbage collector walk) for nothing.
  const [
    { loadKubeConfig },
    { createClusterSource },
    { fetchKubeVersion },
    { createNamespaceCache },
  ] = await Promise.all([
    import("../kube/client.js"),
    import("../kube/cluster-source.js"),
    import("../kube/server-version.js"),
    import("../kube/namespace-cache.js"),
  ]);
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig({
      kubeconfigPath: settings.kubeconfig,
      context: settings.context,
      env: environment.env,
    });
  } catch (error: unknown) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      `${error.message}. To run without a cluster, read StatefulSets from manifests: ` +
        `stsguard serve --manifests DIR (e.g. --manifests examples/manifests)`,
      { cause: error },
    );
  }
  // The version decides where externalTrafficPolicy may be set; without it the mutation could
  // produce Services the API server rejects, so an unreadable /version fails startup.
  const version = configured ?? {
    kubeVersion: await fetchKubeVersion(kubeConfig),
    kubeVersionFrom: "API server" as const,
  };
  const source = createClusterSource({ kubeConfig, logger, metrics: metrics.clusterSource });
  const synced = source.start().then(
    () => {
      if (source.isReady()) logger.info(source.readHealth(), "StatefulSet cache synced; ready");
    },
    (error: unknown) => {
      logger.error({ err: error }, "StatefulSet cache failed to start");
    },
  );
  // Labels only, for namespace rules and exemptions that select by label, and the mode label.
  const namespaces = createNamespaceCache({ kubeConfig, logger, metrics: metrics.clusterSource });
  namespaces.start().then(
    () => {
      if (namespaces.isReady())
        logger.info({ namespaces: namespaces.count() }, "namespace cache synced");
    },
    (error: unknown) => {
      logger.error({ err: error }, "namespace cache failed to start");
    },
  );
  return {
    source,
    namespaces,
    statefulSets: [],
    synced,
    kubeConfig,
    readSnapshot: () => source.readSnapshot(),
    readHealth: () => source.readHealth(),
    ...version,
  };
}

async function selectTls(
  settings: ServeSettings,
  cwd: string,
  logger: Logger,
): Promise<{ source: TlsSource; devCaFile: string | null }> {
  const { tlsCertFile, tlsKeyFile } = settings;
  const clientCa =
    settings.clientCaFile === undefined
      ? {}
      : { clientCaFile: resolve(cwd, settings.clientCaFile) };
  if (tlsCertFile !== undefined && tlsKeyFile !== undefined) {
    return {
      source: {
        certFile: resolve(cwd, tlsCertFile),
        keyFile: resolve(cwd, tlsKeyFile),
        ...clientCa,
      },
      devCaFile: null,
    };
  }
  if (tlsCertFile !== undefined || tlsKeyFile !== undefined) {
    throw new ConfigError(
      "--tls-cert and --tls-key (STSGUARD_TLS_CERT, STSGUARD_TLS_KEY) go together: give both or neither",
    );
  }
  // Only here: @peculiar/x509 is ~0.1 s of start-up that a server given its certificate never needs.
  const { ensureDevCertificates } = await import("../certs/generate.js");
  const dev = await ensureDevCertificates(resolve(cwd, DEV_CERTS_DIR), {
    dnsNames: LOCAL_DEV_DNS_NAMES,
    ipAddresses: LOCAL_DEV_IP_ADDRESSES,
  });
  logger.warn(
    {
      certFile: dev.certFile,
      caCertFile: dev.caCertFile,
      outcome: dev.outcome,
      reason: dev.reason,
    },
    "no --tls-cert/--tls-key: serving development certificates (localhost, 127.0.0.1)",
  );
  return {
    source: { certFile: dev.certFile, keyFile: dev.keyFile, ...clientCa },
    devCaFile: dev.caCertFile,
  };
}

function describeStart(
  running: RunningServer,
  { source, devCaFile }: { source: TlsSource; devCaFile: string | null },
  cwd: string,
  statefulSets: readonly StatefulSetSummary[],
  config: StsguardConfig,
): string {
  const lines = [
    "",
    `stsguard webhook: ${running.url}  (POST /mutate, POST /validate, GET /healthz, GET /readyz)`,
  ];
  if (running.metricsUrl !== null) lines.push(`metrics:          ${running.metricsUrl}`);
  if ("clientCaFile" in source && source.clientCaFile !== undefined) {
    lines.push(
      `client certificates: required on ${running.url}, signed by ${source.clientCaFile} (--client-ca); curl needs --cert and --key`,
    );
  }
  if (devCaFile !== null) {
    const target = toDemoTarget(statefulSets[0]);
    const caFile = relative(cwd, devCaFile) || devCaFile;
    const review = buildDemoReview(target, config.policy.labelPrefix);
    lines.push(
      "",
      `Try it: this asks /validate about a Service for pod ${target.statefulSet}-${target.ordinal}, ` +
        `which StatefulSet ${target.namespace}/${target.statefulSet} does not have; stsguard denies it:`,
      "",
      buildCurlExample(running.url, caFile, review),
    );
  }
  lines.push("", "Stop with Ctrl-C (SIGINT) or SIGTERM: in-flight requests finish first.", "");
  return lines.join("\n");
}
