/**
 * `stsguard controller`: the per-pod Service controller as a process of its own, under a
 * ServiceAccount of its own (the chart's controller Deployment), apart from the admission pods the
 * API server calls. It reads the configuration (reloaded on change: its `controller:` limits apply
 * at the next reconcile), campaigns for the Lease, and serves /metrics, /healthz and /readyz.
 */
import http from "node:http";
import { resolve } from "node:path";
import type { Logger } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";
import { defaultConfig } from "../config/config.js";
import { fixedConfig, watchConfigFile, type LiveConfig } from "../config/reload.js";
import { createLogger, createStdoutLogDestination } from "../observability/logger.js";
import { startServeController } from "./serve-controller.js";

export interface ControllerSettings {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly configFile: string | undefined;
  readonly approvalKeyFile: string | undefined;
  readonly leaderElectionNamespace: string | undefined;
  /** Null: no metrics listener. */
  readonly metricsPort: number | null;
  readonly host: string | undefined;
  readonly logLevel: string;
}

export interface ControllerEnvironment {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stopRequested: Promise<string>;
  /** Told the metrics port once it listens (tests pass 0 and read it here). */
  readonly onListening?: (port: number) => void;
}

export async function runController(
  settings: ControllerSettings,
  environment: ControllerEnvironment,
): Promise<void> {
  const stdout = createStdoutLogDestination();
  const logger = createLogger({ level: settings.logLevel, destination: stdout });
  const [{ loadKubeConfig }, { createNamespaceCache }] = await Promise.all([
    import("../kube/client.js"),
    import("../kube/namespace-cache.js"),
  ]);
  const kubeConfig = loadKubeConfig({
    kubeconfigPath: settings.kubeconfig,
    context: settings.context,
    env: environment.env,
  });
  const config: LiveConfig & { close?: () => void } = settings.configFile
    ? await watchConfigFile({ path: resolve(environment.cwd, settings.configFile), logger })
    : fixedConfig(defaultConfig);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Labels only, for controller.namespaceSelector.
  const namespaces = createNamespaceCache({ kubeConfig, logger });
  namespaces.start().catch((error: unknown) => {
    logger.error({ err: error }, "namespace cache failed to start");
  });
  let controller;
  try {
    controller = startServeController({
      kubeConfig,
      logger,
      policy: config.current().policy,
      limits: () => config.current().controller,
      namespaceLabels: (namespace) => namespaces.cachedLabels(namespace),
      approvalKeyFile: settings.approvalKeyFile,
      registry,
      env: environment.env,
      leaseNamespace: settings.leaderElectionNamespace,
    });
  } catch (error: unknown) {
    config.close?.();
    await namespaces.close();
    throw error;
  }
  const server =
    settings.metricsPort === null
      ? null
      : await listen(registry, settings.metricsPort, settings.host, logger);
  if (server) environment.onListening?.(portOf(server));
  const signal = await environment.stopRequested;
  logger.info({ signal }, "shutting down: the controller stops writing and releases its Lease");
  try {
    await controller.close();
  } finally {
    config.close?.();
    await namespaces.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((done) =>
        server.close(() => {
          done();
        }),
      );
    }
    stdout.flush();
  }
}

/** GET /metrics, /healthz, /readyz on plain HTTP: what the probes and Prometheus read. */
async function listen(
  registry: Registry,
  port: number,
  host: string | undefined,
  logger: Logger,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && (path === "/healthz" || path === "/readyz")) {
      res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": registry.contentType }).end(text),
        (error: unknown) => {
          logger.error({ err: error }, "metrics failed");
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      done();
    });
  });
  logger.info({ port: portOf(server) }, "controller metrics listening");
  return server;
}

function portOf(server: http.Server): number {
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}
