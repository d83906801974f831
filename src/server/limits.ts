/**
 * What a slow, greedy or departing client may hold on to. Kept apart from server.ts so that the
 * CLI can show the defaults in `serve --help` without loading the server.
 */

/** Every value is a flag of `stsguard serve`. */
export interface ConnectionLimits {
  /** A connection must finish its TLS handshake within this time. */
  readonly handshakeTimeoutMs: number;
  /** A request's headers must arrive within this time; a new connection's first request counts from the TCP accept. */
  readonly headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this time. */
  readonly requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this time. */
  readonly keepAliveTimeoutMs: number;
  /** Connections beyond this many (per port) are closed as soon as they are accepted. */
  readonly maxConnections: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  // The API server's own TLS handshake timeout is 10 s; a handshake on a healthy network takes ms.
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  // Admission calls last at most 30 s (timeoutSeconds), body upload included.
  requestTimeoutMs: 30_000,
  // Longer than the idle timeout of the API server's HTTP client (90 s), so the server never
  // closes a kept-alive connection the API server is about to reuse for a POST it cannot retry.
  keepAliveTimeoutMs: 100_000,
  maxConnections: 512,
};

/**
 * After SIGTERM, how long `serve` keeps accepting while /readyz answers 503: long enough for the
 * endpoints controller and kube-proxy (or the API server's service resolver) to stop sending here.
 */
export const DEFAULT_DRAIN_DELAY_MS = 5_000;

/** After the drain, how long in-flight requests may take before their connections are cut. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
