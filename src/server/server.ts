import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { StsguardConfig } from "../config/config.js";
import { fixedConfig, type LiveConfig } from "../config/reload.js";
import type { NamespaceSource } from "../namespaces/source.js";
import { ConfigError } from "../errors.js";
import { createMetrics, type WebhookMetrics } from "../observability/metrics.js";
import type { StatefulSetSource } from "../statefulsets/source.js";
import { createDefaultBodyBudget, type BodyBudget } from "../memory/body-budget.js";
import type { AdmitDeps } from "../admission/admit.js";
import { createAdmissionHandler, DEFAULT_MAX_BODY_BYTES } from "./admission-handler.js";
import { limitFirstRequest } from "./first-request.js";
import { createHealthApp } from "./health-app.js";
import {
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  type ConnectionLimits,
} from "./limits.js";
import {
  TLS_SERVER_OPTIONS,
  readCertificateExpiry,
  toEpochSeconds,
  watchTlsFiles,
  type TlsWatcher,
} from "./tls.js";

/**
 * PEM text given directly (tests, benchmarks), or files watched and reloaded when they change.
 * With a client CA (`--client-ca`) the admission port requires a client certificate it signed.
 */
export type TlsSource =
  | {
      readonly cert: string | Buffer;
      readonly key: string | Buffer;
      readonly clientCa?: string | Buffer;
    }
  | {
      readonly certFile: string;
      readonly keyFile: string;
      readonly clientCaFile?: string;
      readonly pollIntervalMs?: number;
    };

export interface WebhookServerDeps {
  readonly source: StatefulSetSource;
  /** A fixed configuration, or one that reloads (src/config/reload.ts). */
  readonly config: StsguardConfig | LiveConfig;
  /** Namespace labels, for namespace rules and exemptions that select by label. */
  readonly namespaces?: NamespaceSource;
  readonly logger: Logger;
  /** Default 3 MiB; a larger body gets 413. */
  readonly maxBodyBytes?: number;
  /**
   * Bytes of request bodies in flight; default: derived from the container's memory limit,
   * waiting up to DEFAULT_BODY_BUDGET_WAIT_MS (see src/memory/body-budget.ts).
   */
  readonly bodyBudget?: BodyBudget;
  /** Made with createMetrics when absent; pass one to share it with the source. */
  readonly metrics?: WebhookMetrics;
  /** Timeouts and the connection cap; each missing one takes its DEFAULT_CONNECTION_LIMITS value. */
  readonly limits?: Partial<ConnectionLimits>;
  /** /mutate of StatefulSets: approvals of expose annotations (src/controller/approval-admission.ts). */
  readonly exposeApproval?: AdmitDeps["exposeApproval"];
}

export interface StartServerOptions extends WebhookServerDeps {
  readonly tls: TlsSource;
  /** Interface to listen on; default every interface. Tests pass 127.0.0.1. */
  readonly host?: string;
  /** HTTPS port for admission; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Plain HTTP port for /metrics, /healthz, /readyz; 0 picks one; null (default) serves none. */
  readonly metricsPort?: number | null;
  /**
   * How long close() keeps accepting and answering after /readyz turned 503, so that endpoints
   * drop the pod before the listener closes. Default 0 (tests); `serve` defaults to 5 s.
   */
  readonly drainDelayMs?: number;
  /** After the drain delay, how long in-flight requests may take before they are cut. Default 10 s. */
  readonly shutdownTimeoutMs?: number;
}

export interface RunningServer {
  readonly port: number;
  readonly metricsPort: number | null;
  /** `https://<host>:<port>`, with 127.0.0.1 for a wildcard address. */
  readonly url: string;
  /** `http://<host>:<metricsPort>/metrics`, or null without a metrics server. */
  readonly metricsUrl: string | null;
  readonly metrics: WebhookMetrics;
  /**
   * Graceful stop. /readyz turns 503 at once and every answer from then on carries
   * `Connection: close`, while the server keeps accepting for the drain delay. Then it stops
   * accepting, closes the connections that have no request in flight, lets in-flight requests
   * finish (their connections then close), and cuts whatever is left after the shutdown timeout.
   * Does not close the source: its owner does.
   */
  close(): Promise<void>;
}

/** The servers, wired but not listening. */
export interface WebhookServer {
  readonly server: https.Server;
  readonly metricsServer: http.Server;
  readonly metrics: WebhookMetrics;
  /** Marks the server as stopping: /readyz answers 503 and responses close their connection. */
  beginShutdown(): void;
}

// Node checks header and request timeouts only this often (default 30 s, which let a silent
// client hold a connection for up to a minute); 1 s makes the timeouts act when they say.
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

export function createWebhookServer(deps: WebhookServerDeps, tls?: TlsSource): WebhookServer {
  const { source, logger } = deps;
  const config = "current" in deps.config ? deps.config : fixedConfig(deps.config);
  let closing = false;
  const metrics = deps.metrics ?? createMetrics({ isSourceReady: () => source.isReady() });
  metrics.setActiveConfig(config.hash(), config.current().guardrails.exemptions);
  const health = createHealthApp({
    logger,
    metrics,
    notReadyReason: () => {
      if (closing) return "shutting down";
      if (!source.isReady()) return "the StatefulSet source has not synced yet";
      return deps.namespaces?.isReady() === false ? "the namespace cache has not synced yet" : null;
    },
  });
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const handleAdmission = createAdmissionHandler({
    source,
    ...(deps.namespaces ? { namespaces: deps.namespaces } : {}),
    ...(deps.exposeApproval ? { exposeApproval: deps.exposeApproval } : {}),
    config,
    logger,
    metrics,
    maxBodyBytes,
    bodyBudget: deps.bodyBudget ?? createDefaultBodyBudget(maxBodyBytes, metrics.bodyBudget),
    isClosing: () => closing,
  });
  const serveOther = (req: IncomingMessage, res: ServerResponse): void => {
    if (closing) res.setHeader("Connection", "close");
    health(req, res);
  };

  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...deps.limits };
  const staticTls =
    tls && "cert" in tls
      ? {
          cert: tls.cert,
          key: tls.key,
          ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
        }
      : {};
  const serverOptions = {
    ...TLS_SERVER_OPTIONS,
    ...staticTls,
    // The handshake fails unless the client presents a certificate the client CA signed. Only the
    // admission port: /healthz, /readyz and /metrics stay open on the plain metrics port.
    ...(requiresClientCertificate(tls) ? { requestCert: true, rejectUnauthorized: true } : {}),
    handshakeTimeout: limits.handshakeTimeoutMs,
    connectionsCheckingInterval: Math.min(
      CONNECTIONS_CHECKING_INTERVAL_MS,
      limits.headersTimeoutMs,
      limits.requestTimeoutMs,
    ),
  };
  const server = https.createServer(serverOptions, (req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    // The API server calls `<path>?timeout=10s`.
    const path = query === -1 ? url : url.slice(0, query);
    if (path === "/mutate") handleAdmission(req, res, "mutate");
    else if (path === "/validate") handleAdmission(req, res, "validate");
    else serveOther(req, res);
  });
  const metricsServer = http.createServer(
    { connectionsCheckingInterval: serverOptions.connectionsCheckingInterval },
    serveOther,
  );
  for (const s of [server, metricsServer]) {
    limitFirstRequest(s, limits.headersTimeoutMs, () => {
      metrics.observeCutConnection("first-request-timeout");
    });
    s.keepAliveTimeout = limits.keepAliveTimeoutMs;
    s.headersTimeout = limits.headersTimeoutMs;
    s.requestTimeout = limits.requestTimeoutMs;
    s.maxConnections = limits.maxConnections;
    s.on("drop", () => {
      metrics.observeDroppedConnection();
      logger.debug({ maxConnections: limits.maxConnections }, "connection cap reached: dropped");
    });
  }
  server.on("tlsClientError", (error: Error) => {
    metrics.observeCutConnection("tls-handshake-failed");
    logger.debug({ err: error }, "TLS handshake failed");
  });
  return {
    server,
    metricsServer,
    metrics,
    beginShutdown: () => {
      closing = true;
    },
  };
}

function requiresClientCertificate(tls: TlsSource | undefined): boolean {
  if (tls === undefined) return false;
  return "cert" in tls ? tls.clientCa !== undefined : tls.clientCaFile !== undefined;
}

/** Starts the HTTPS admission server (and the metrics server) and resolves once both listen. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { logger, tls } = options;
  const web = createWebhookServer(options, tls);
  let watcher: TlsWatcher | null = null;
  if ("certFile" in tls) {
    // Throws ConfigError before listening when a file is missing or the pair does not match.
    watcher = watchTlsFiles({
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      ...(tls.clientCaFile === undefined ? {} : { clientCaFile: tls.clientCaFile }),
      server: web.server,
      logger,
      onReload: (event) => {
        web.metrics.observeTlsReload(event.outcome);
      },
      onServing: (pair) => {
        web.metrics.setTlsCertificateExpiry(toEpochSeconds(pair.validTo));
      },
      ...(tls.pollIntervalMs === undefined ? {} : { pollIntervalMs: tls.pollIntervalMs }),
    });
  }
  if ("cert" in tls) web.metrics.setTlsCertificateExpiry(readCertificateExpiry(tls.cert));
  const metricsPort = options.metricsPort ?? null;
  let port: number;
  let boundMetricsPort: number | null = null;
  try {
    port = await listen(web.server, options.port ?? 0, options.host);
    if (metricsPort !== null) {
      boundMetricsPort = await listen(web.metricsServer, metricsPort, options.host);
    }
  } catch (error: unknown) {
    watcher?.close();
    web.server.close();
    throw error;
  }
  const url = `https://${displayHost(options.host)}:${port}`;
  const metricsUrl =
    boundMetricsPort === null
      ? null
      : `http://${displayHost(options.host)}:${boundMetricsPort}/metrics`;
  logger.info(
    { url, port, metricsPort: boundMetricsPort, host: options.host ?? "*" },
    "stsguard webhook listening",
  );

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      web.beginShutdown();
      const drainDelayMs = options.drainDelayMs ?? 0;
      if (drainDelayMs > 0) {
        // Endpoints drop a terminating pod (or one whose readiness probe fails) only after a
        // moment; until then the API server may still connect here, so keep accepting. Every
        // answer already says Connection: close, so kept-alive connections move on one by one.
        logger.info({ drainDelayMs }, "draining: /readyz answers 503, still serving");
        await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
      }
      const servers = boundMetricsPort === null ? [web.server] : [web.server, web.metricsServer];
      const timer = setTimeout(() => {
        logger.warn("shutdown timeout passed; closing the connections still open");
        for (const s of servers) s.closeAllConnections();
      }, options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      try {
        await Promise.all(servers.map(closeServer));
      } finally {
        clearTimeout(timer);
        watcher?.close();
      }
      logger.info("stsguard webhook stopped");
    })();
    return closed;
  };
  return { port, metricsPort: boundMetricsPort, url, metricsUrl, metrics: web.metrics, close };
}

function listen(server: http.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const where = `${host ?? "*"}:${port}`;
      reject(
        error.code === "EADDRINUSE" || error.code === "EACCES" || error.code === "EADDRNOTAVAIL"
          ? new ConfigError(`cannot listen on ${where}: ${error.message}`, { cause: error })
          : error,
      );
    };
    server.once("error", onError);
    server.listen({ port, host }, () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Stops accepting, closes idle connections now, and resolves when the last connection ends.
 * "Idle" is Node's own bookkeeping: a connection on which no byte of a request has been parsed.
 * A request already arriving keeps its connection until it is answered (with Connection: close).
 */
function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeIdleConnections();
  });
}

function displayHost(host: string | undefined): string {
  if (host === undefined || host === "" || host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
