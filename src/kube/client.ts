/**
 * The one user of @kubernetes/client-node (through ./client-node.ts, which the build bundles). It
 * builds a KubeConfig (in-cluster or from a kubeconfig file) and turns it into a small HTTP
 * transport for raw JSON GETs and watch streams.
 *
 * We use client-node for what it does well (kubeconfig parsing, TLS material, token files, exec
 * plugins, proxies) and speak HTTP ourselves with node:http(s). The typed APIs pass objects through
 * ObjectSerializer (keys renamed, dates parsed, no AbortSignal) and its `Watch` class drops the body
 * of a non-200 answer and fixes its own timeouts; a webhook needs exact deadlines and the Status
 * body of a 410 Gone, so we keep the wire in our hands.
 */
import { existsSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { delimiter, join } from "node:path";
import { KubeConfig, type Cluster, type Context, type User } from "./client-node.js";
import { ConfigError, LookupError } from "../errors.js";

export { KubeConfig };

/** Where the service account token and CA are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeConfigRequest {
  /** `--kubeconfig`: wins over everything else. */
  readonly kubeconfigPath?: string | undefined;
  /** `--context`: a context of the kubeconfig; implies a kubeconfig, never in-cluster. */
  readonly context?: string | undefined;
  /** The environment as the caller read it (KUBERNETES_SERVICE_HOST/PORT, KUBECONFIG, HOME). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the service account files are; a parameter so tests can point elsewhere. */
  readonly serviceAccountDir?: string;
}

/**
 * In-cluster config when running in a pod (KUBERNETES_SERVICE_HOST set) and no kubeconfig or
 * context was asked for; otherwise the kubeconfig file: `--kubeconfig`, then every file in
 * KUBECONFIG (merged, first definition wins, as kubectl does), then ~/.kube/config.
 */
export function loadKubeConfig(request: KubeConfigRequest): KubeConfig {
  const { kubeconfigPath, context, env } = request;
  const host = env["KUBERNETES_SERVICE_HOST"];
  if (!kubeconfigPath && !context && host) {
    return loadInClusterConfig(host, env, request.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  }
  const files = kubeconfigPath ? [kubeconfigPath] : findKubeconfigFiles(env);
  if (kubeconfigPath && !existsSync(kubeconfigPath)) {
    throw new ConfigError(`--kubeconfig ${kubeconfigPath}: file does not exist`);
  }
  if (files.length === 0) {
    throw new ConfigError(
      "no Kubernetes configuration: not running in a cluster (KUBERNETES_SERVICE_HOST is unset), " +
        "no --kubeconfig given, no file named in KUBECONFIG exists and ~/.kube/config does not exist",
    );
  }
  const kubeConfig = mergeKubeconfigFiles(files);
  if (context) selectContext(kubeConfig, context, files);
  if (!kubeConfig.getCurrentCluster()) {
    throw new ConfigError(
      `kubeconfig ${files.join(delimiter)}: no current cluster (set current-context or pass --context)`,
    );
  }
  return kubeConfig;
}

/** A KubeConfig for one API server URL, e.g. a local test server or `kubectl proxy`. */
export function createKubeConfigForServer(
  server: string,
  options: { token?: string; skipTLSVerify?: boolean } = {},
): KubeConfig {
  const kubeConfig = new KubeConfig();
  const user: User = options.token ? { name: "user", token: options.token } : { name: "user" };
  kubeConfig.loadFromClusterAndUser(
    { name: "cluster", server, skipTLSVerify: options.skipTLSVerify ?? false },
    user,
  );
  return kubeConfig;
}

function loadInClusterConfig(
  host: string,
  env: Readonly<Record<string, string | undefined>>,
  serviceAccountDir: string,
): KubeConfig {
  const tokenFile = join(serviceAccountDir, "token");
  const caFile = join(serviceAccountDir, "ca.crt");
  for (const file of [tokenFile, caFile]) {
    if (!existsSync(file)) {
      throw new ConfigError(
        `KUBERNETES_SERVICE_HOST is set (running in a pod) but ${file} does not exist: ` +
          "mount a service account token (automountServiceAccountToken) or pass --kubeconfig",
      );
    }
  }
  const port = env["KUBERNETES_SERVICE_PORT"] ?? "443";
  const serverHost = host.includes(":") ? `[${host}]` : host;
  const cluster: Cluster = {
    name: "in-cluster",
    server: `https://${serverHost}:${port}`,
    caFile,
    skipTLSVerify: false,
  };
  // client-node's tokenFile provider re-reads the file every minute: bound tokens rotate.
  const user: User = {
    name: "in-cluster",
    authProvider: { name: "tokenFile", config: { tokenFile } },
  };
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromClusterAndUser(cluster, user);
  return kubeConfig;
}

/** Files named in KUBECONFIG that exist (kubectl skips missing ones), else ~/.kube/config. */
function findKubeconfigFiles(env: Readonly<Record<string, string | undefined>>): string[] {
  const fromEnv = (env["KUBECONFIG"] ?? "").split(delimiter).filter((file) => file !== "");
  if (fromEnv.length > 0) return fromEnv.filter((file) => existsSync(file));
  const home = env["HOME"] ?? env["USERPROFILE"];
  if (!home) return [];
  const file = join(home, ".kube", "config");
  return existsSync(file) ? [file] : [];
}

function mergeKubeconfigFiles(files: readonly string[]): KubeConfig {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext = "";
  for (const file of files) {
    const loaded = readKubeconfigFile(file);
    for (const cluster of loaded.getClusters()) addFirst(clusters, cluster.name, cluster);
    for (const user of loaded.getUsers()) addFirst(users, user.name, user);
    for (const context of loaded.getContexts()) addFirst(contexts, context.name, context);
    currentContext ||= loaded.getCurrentContext();
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext,
  });
  return kubeConfig;
}

function readKubeconfigFile(file: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromFile(file);
  } catch (error: unknown) {
    throw new ConfigError(`kubeconfig ${file} could not be read: ${describeError(error)}`, {
      cause: error,
    });
  }
  return kubeConfig;
}

function addFirst<T>(map: Map<string, T>, key: string, value: T): void {
  if (!map.has(key)) map.set(key, value);
}

function selectContext(kubeConfig: KubeConfig, context: string, files: readonly string[]): void {
  if (!kubeConfig.getContextObject(context)) {
    const known = kubeConfig.getContexts().map((c) => c.name);
    throw new ConfigError(
      `--context ${context}: no such context in ${files.join(delimiter)}` +
        (known.length > 0 ? ` (known: ${known.join(", ")})` : ""),
    );
  }
  kubeConfig.setCurrentContext(context);
}

export type KubeQuery = Readonly<Record<string, string | undefined>>;

export type KubeWriteMethod = "POST" | "PUT" | "PATCH" | "DELETE";

export interface KubeWriteBody {
  readonly contentType: string;
  readonly value: unknown;
}

export interface KubeJsonResponse {
  readonly status: number;
  /** The parsed JSON body, or null when the body was empty or not JSON. */
  readonly body: unknown;
}

export type KubeStreamEnd =
  /** The server ended a 200 stream cleanly (e.g. the watch's timeoutSeconds passed). */
  | { readonly kind: "ended" }
  /** The server refused the stream; `body` is usually a Status. */
  | { readonly kind: "rejected"; readonly status: number; readonly body: unknown };

export interface KubeRequestOptions {
  /** Aborts the request (and destroys its socket) when it fires. */
  readonly signal?: AbortSignal;
  /** Deadline for the whole exchange, body included; a LookupError names it when it passes. */
  readonly timeoutMs?: number;
}

export interface KubeStreamOptions extends KubeRequestOptions {
  /** Called once the server has accepted the stream (HTTP 200), before the first line. */
  readonly onOpen?: () => void;
}

/** Raw JSON over HTTP to the API server of a KubeConfig's current context. */
export interface KubeTransport {
  /** The API server URL, for logs and messages. */
  readonly server: string;
  /** GET `path`; any HTTP status resolves, transport faults and deadlines reject with LookupError. */
  getJson(path: string, query: KubeQuery, options?: KubeRequestOptions): Promise<KubeJsonResponse>;
  /**
   * A write (POST, PUT, PATCH, DELETE) with a JSON body sent as `contentType` (e.g.
   * `application/apply-patch+yaml`: JSON is YAML), or none; resolves with any HTTP status, as
   * getJson.
   */
  sendJson(
    method: KubeWriteMethod,
    path: string,
    query: KubeQuery,
    body: KubeWriteBody | null,
    options?: KubeRequestOptions,
  ): Promise<KubeJsonResponse>;
  /**
   * GET a newline-delimited stream (a watch), calling `onLine` for each line as it arrives.
   * Resolves when the server ends it or refuses it; rejects with LookupError when the
   * connection breaks or `signal` aborts it.
   */
  streamLines(
    path: string,
    query: KubeQuery,
    onLine: (line: string) => void,
    options?: KubeStreamOptions,
  ): Promise<KubeStreamEnd>;
}

// One Kubernetes object is at most ~1.5 MiB (etcd's limit); a watch line longer than this is junk.
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/**
 * The largest answer to a GET (a list page, one object, a Status) read into memory; a larger one
 * is refused with a LookupError rather than buffered. A page of 250 StatefulSets or Services as
 * a real API server sends them (managedFields included) is a few MiB; the cap only stops a
 * runaway answer from costing the pod its memory limit (the body is held about three times
 * over while it is parsed: bytes, string, objects).
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
// Probes a watch's idle TCP connection so a dead peer is noticed by the kernel too.
const TCP_KEEPALIVE_MS = 30_000;

export interface KubeTransportOptions {
  /** Default DEFAULT_MAX_RESPONSE_BYTES. */
  readonly maxResponseBytes?: number;
}

export function createKubeTransport(
  kubeConfig: KubeConfig,
  transportOptions: KubeTransportOptions = {},
): KubeTransport {
  const maxResponseBytes = transportOptions.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new ConfigError("kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/+$/, "");
  // client-node's proxy agents are kept as it makes them; direct connections share one agent.
  const pool = cluster.proxyUrl ? null : createAgentPool();

  const open = async (
    path: string,
    query: KubeQuery,
    signal: AbortSignal,
    write?: { method: KubeWriteMethod; body: KubeWriteBody | null },
  ): Promise<{ request: http.ClientRequest; response: http.IncomingMessage }> => {
    const url = new URL(server + path);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const options: https.RequestOptions = {};
    // Re-applied per request: token files and exec plugins hand out rotating credentials.
    await kubeConfig.applyToHTTPSOptions(options);
    if (pool) options.agent = pool.agentFor(options, url.protocol === "http:");
    signal.throwIfAborted();
    const send = url.protocol === "http:" ? http.request : https.request;
    const payload = write?.body ? Buffer.from(JSON.stringify(write.body.value), "utf8") : undefined;
    return await new Promise((resolve, reject) => {
      const request = send(url, {
        ...options,
        method: write?.method ?? "GET",
        headers: {
          ...toHeaderRecord(options.headers),
          Accept: "application/json",
          "User-Agent": "stsguard",
          ...(write?.body && payload
            ? { "Content-Type": write.body.contentType, "Content-Length": payload.length }
            : {}),
        },
      });
      // Not http.request's `signal` option: with a kept-alive agent Node hands it on to the
      // socket, which a later abort then destroys with an AbortError nobody listens for, after
      // the socket has gone back to the pool (or served the next request).
      // Destroyed without an error: the reader sees the stream close early and reports the
      // abort (closedEarlyError), and no stream is left holding an error nobody listens for.
      const abortRequest = (): void => {
        request.destroy();
      };
      signal.addEventListener("abort", abortRequest, { once: true });
      request.on("close", () => {
        signal.removeEventListener("abort", abortRequest);
        // Closed before an answer (aborted): settles the open; a no-op once answered.
        reject(closedEarlyError(signal));
      });
      request.on("socket", (socket) => {
        socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
      });
      request.on("response", (response) => {
        resolve({ request, response });
      });
      request.on("error", reject);
      request.end(payload);
    });
  };

  const getJson = (
    path: string,
    query: KubeQuery,
    options: KubeRequestOptions = {},
  ): Promise<KubeJsonResponse> =>
    runWithDeadline(`GET ${server}${path}`, options, async (signal) => {
      const { response } = await open(path, query, signal);
      const text = await readBody(response, signal, maxResponseBytes);
      return { status: response.statusCode ?? 0, body: parseJson(text) };
    });

  const streamLines = (
    path: string,
    query: KubeQuery,
    onLine: (line: string) => void,
    options: KubeStreamOptions = {},
  ): Promise<KubeStreamEnd> =>
    runWithDeadline(`watch ${server}${path}`, options, async (signal) => {
      const { request, response } = await open(path, query, signal);
      const status = response.statusCode ?? 0;
      if (status !== 200) {
        const text = await readBody(response, signal, maxResponseBytes);
        return { kind: "rejected", status, body: parseJson(text) };
      }
      options.onOpen?.();
      await readLines(request, response, signal, onLine);
      return { kind: "ended" };
    });

  const sendJson = (
    method: KubeWriteMethod,
    path: string,
    query: KubeQuery,
    body: KubeWriteBody | null,
    options: KubeRequestOptions = {},
  ): Promise<KubeJsonResponse> =>
    runWithDeadline(`${method} ${server}${path}`, options, async (signal) => {
      const { response } = await open(path, query, signal, { method, body });
      const text = await readBody(response, signal, maxResponseBytes);
      return { status: response.statusCode ?? 0, body: parseJson(text) };
    });

  return { server, getJson, sendJson, streamLines };
}

/**
 * One kept-alive agent for as long as the TLS material stays the same (a renewed client
 * certificate or CA gets a new one; the old one's connections end on their own).
 * client-node's applyToHTTPSOptions makes a new Agent on every call, so every request opened a
 * connection and, over TLS, paid a handshake and a new secure context: the ~40 list pages of a
 * start with 10,000 StatefulSets and Services, every live read, every renewed watch.
 */
function createAgentPool(): {
  agentFor(options: https.RequestOptions, plainHttp: boolean): http.Agent;
} {
  let pooled: { material: string; agent: http.Agent } | null = null;
  return {
    agentFor(options, plainHttp) {
      const tls = {
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        pfx: options.pfx,
        passphrase: options.passphrase,
        rejectUnauthorized: options.rejectUnauthorized,
        servername: options.servername,
      };
      const material = JSON.stringify(Object.values(tls).map(materialText));
      if (pooled?.material !== material) {
        pooled = {
          material,
          agent: plainHttp
            ? new http.Agent({ keepAlive: true })
            : new https.Agent({ ...tls, keepAlive: true }),
        };
      }
      return pooled.agent;
    },
  };
}

/** A TLS option as text, to tell whether it changed: PEM strings, buffers, lists of either. */
function materialText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (Array.isArray(value)) return value.map(materialText).join("\n");
  if (typeof value === "string" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/**
 * Runs `work` with a signal that fires on the caller's signal or after `timeoutMs`, and turns
 * every fault into a LookupError that says which request failed and why. The timer is always
 * cleared and an aborted request destroys its socket, so nothing outlives the call.
 */
async function runWithDeadline<T>(
  what: string,
  options: KubeRequestOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const { signal: parent, timeoutMs } = options;
  const timeoutError =
    timeoutMs === undefined
      ? undefined
      : createRequestError(what, `no answer within ${timeoutMs} ms`);
  const timer =
    timeoutError &&
    setTimeout(() => {
      controller.abort(timeoutError);
    }, timeoutMs);
  const onParentAbort = (): void => {
    controller.abort(parent?.reason);
  };
  if (parent?.aborted) onParentAbort();
  parent?.addEventListener("abort", onParentAbort, { once: true });
  // Also covers what does not watch the signal, e.g. an exec credential plugin that hangs.
  const aborted = new Promise<never>((_resolve, reject) => {
    controller.signal.addEventListener(
      "abort",
      () => {
        reject(controller.signal.reason as Error);
      },
      { once: true },
    );
  });
  aborted.catch(() => undefined);
  try {
    return await Promise.race([work(controller.signal), aborted]);
  } catch (error: unknown) {
    if (timeoutError && controller.signal.reason === timeoutError) throw timeoutError;
    if (controller.signal.aborted) {
      throw createRequestError(what, "aborted", controller.signal.reason);
    }
    throw createRequestError(what, describeError(error), error);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener("abort", onParentAbort);
  }
}

// The failure without the request line, for messages users read (a denial's reason).
const requestFailures = new WeakMap<Error, string>();

function createRequestError(what: string, detail: string, cause?: unknown): LookupError {
  const error = new LookupError(`${what}: ${detail}`, cause === undefined ? {} : { cause });
  requestFailures.set(error, detail);
  return error;
}

/** Why a transport call failed, without the method and URL: "no answer within 2000 ms". */
export function describeRequestFailure(error: unknown): string {
  return (error instanceof Error && requestFailures.get(error)) || describeError(error);
}

function readBody(
  response: http.IncomingMessage,
  signal: AbortSignal,
  maxBytes: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: Error | undefined;
    const tooLarge = (seen: string): LookupError =>
      new LookupError(`response body ${seen} is larger than the ${maxBytes}-byte cap; not read`);
    // Refused before a byte is buffered when the server says how large it is.
    const declared = Number(response.headers["content-length"]);
    if (declared > maxBytes) {
      response.destroy();
      reject(tooLarge(`of ${declared} bytes (Content-Length)`));
      return;
    }
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (failure) return;
      if (size > maxBytes) {
        failure = tooLarge(`of more than ${maxBytes} bytes`);
        chunks.length = 0;
        response.destroy(failure);
        return;
      }
      chunks.push(chunk);
    });
    response.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    response.on("error", (error) => {
      reject(failure ?? error);
    });
    response.on("close", () => {
      if (!response.complete) reject(failure ?? closedEarlyError(signal));
    });
  });
}

function readLines(
  request: http.ClientRequest,
  response: http.IncomingMessage,
  signal: AbortSignal,
  onLine: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    // A throwing callback must fail this stream, not escape from an event listener.
    let failure: Error | undefined;
    const fail = (error: Error): void => {
      failure ??= error;
      request.destroy(error);
    };
    const deliver = (line: string): void => {
      try {
        onLine(line);
      } catch (error: unknown) {
        fail(error instanceof Error ? error : new Error(String(error)));
      }
    };
    let pending = "";
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line !== "") deliver(line);
        // onLine may have aborted the stream; stop delivering what is left of the chunk.
        if (signal.aborted) return;
        newline = pending.indexOf("\n");
      }
      if (pending.length > MAX_LINE_BYTES) {
        fail(new LookupError(`watch line longer than ${MAX_LINE_BYTES} bytes`));
      }
    });
    response.on("end", () => {
      const line = pending.trim();
      if (line !== "" && !signal.aborted) deliver(line);
      if (failure) reject(failure);
      else resolve();
    });
    response.on("error", (error) => {
      reject(failure ?? error);
    });
    response.on("close", () => {
      if (!response.complete) reject(failure ?? closedEarlyError(signal));
    });
  });
}

function toHeaderRecord(headers: https.RequestOptions["headers"]): http.OutgoingHttpHeaders {
  return headers && !Array.isArray(headers) ? (headers as http.OutgoingHttpHeaders) : {};
}

function closedEarlyError(signal: AbortSignal): Error {
  if (signal.aborted) return new LookupError("request aborted", { cause: signal.reason });
  return new LookupError("connection closed before the response ended");
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
