import type http from "node:http";
import type https from "node:https";
import type net from "node:net";
import type tls from "node:tls";

/** What Node itself answers when a request's headers take too long; sent here on the same terms. */
const REQUEST_TIMEOUT_RESPONSE = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";

interface Pending {
  readonly raw: net.Socket;
  readonly timer: NodeJS.Timeout;
  /** Set once the TLS handshake is done (https only): where a 408 can still be written. */
  secured: tls.TLSSocket | null;
}

/**
 * Closes every connection whose first request's headers have not arrived `deadlineMs` after it
 * was accepted, TLS handshake included.
 *
 * Node's own headers timeout starts only once the handshake is done (https runs the HTTP parser
 * on the decrypted stream), so a client could spend the handshake timeout and then the headers
 * timeout; and Node checks its timeouts on an interval, not at the instant. This deadline counts
 * from the TCP accept and fires on time. It covers only a connection's first request: from then
 * on the connection is the API server's kept-alive one, idle between requests for up to its 90 s,
 * which only the keep-alive timeout may end.
 *
 * The raw socket is what `connection` hands out; the request's socket is the TLS socket wrapped
 * around it. Both report the same peer address and port (one TCP connection), which is how the
 * two are matched without reaching into Node's internals.
 */
export function limitFirstRequest(
  server: http.Server | https.Server,
  deadlineMs: number,
  onExpired: () => void,
): void {
  const pending = new Map<string, Pending>();
  const expire = (key: string, entry: Pending): void => {
    pending.delete(key);
    if (entry.raw.destroyed) return;
    onExpired();
    // No request has begun on it: a 408 can say why, as Node's own timeout would.
    const writable = entry.secured ?? entry.raw;
    if (!writable.destroyed && writable.writable) writable.write(REQUEST_TIMEOUT_RESPONSE);
    entry.secured?.destroy();
    entry.raw.destroy();
  };
  server.on("connection", (raw: net.Socket) => {
    const key = peerKey(raw);
    // The same peer address and port again: the earlier connection is gone.
    const earlier = pending.get(key);
    if (earlier) clearTimeout(earlier.timer);
    const entry: Pending = {
      raw,
      secured: null,
      timer: setTimeout(() => {
        if (pending.get(key) === entry) expire(key, entry);
      }, deadlineMs),
    };
    entry.timer.unref();
    pending.set(key, entry);
    raw.once("close", () => {
      if (pending.get(key) !== entry) return;
      clearTimeout(entry.timer);
      pending.delete(key);
    });
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const entry = pending.get(peerKey(socket));
    if (entry) entry.secured = socket;
  });
  server.on("request", (req: http.IncomingMessage) => {
    if (pending.size === 0) return;
    const key = peerKey(req.socket);
    const entry = pending.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    pending.delete(key);
  });
}

function peerKey(socket: net.Socket): string {
  return `${socket.remoteAddress ?? ""}|${String(socket.remotePort ?? "")}`;
}
