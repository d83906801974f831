// Clients that hold connections without finishing a request: each is cut off within the
// configured seconds, and the connection cap keeps a flood of them from exhausting the process.
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { configFor, fixtureSource } from "../admission/admission-inputs.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { waitFor } from "../helpers/wait-for.js";
import { requestHttp, requestHttps } from "./https-client.js";

let certs: TestCertificates;

beforeAll(async () => {
  certs = await makeTestCertificates();
});

async function startWith(
  limits: Parameters<typeof startServer>[0]["limits"],
): Promise<RunningServer> {
  return startServer({
    source: fixtureSource(),
    config: configFor("1.26"),
    logger: createLogger({ destination: createMemoryLogDestination() }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
    metricsPort: 0,
    limits,
  });
}

interface Closed {
  /** Milliseconds from the moment the client was ready to the socket closing. */
  readonly afterMs: number;
  /** What the server wrote before closing. */
  readonly received: string;
}

/** Resolves when `socket` closes, with how long after `since` and what arrived on it. */
function whenClosed(socket: net.Socket, since: () => number): Promise<Closed> {
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  return new Promise((resolve) => {
    socket.on("close", () => {
      resolve({ afterMs: Date.now() - since(), received });
    });
  });
}

/** A TLS connection that completes its handshake, then runs `act` on the open socket. */
function connectTls(port: number, act: (socket: tls.TLSSocket) => void = () => undefined) {
  let readyAt = 0;
  const socket = tls.connect({
    port,
    host: "127.0.0.1",
    ca: certs.caCert,
    servername: "localhost",
  });
  const secured = new Promise<void>((resolve) => {
    socket.once("secureConnect", () => {
      readyAt = Date.now();
      act(socket);
      resolve();
    });
  });
  return { socket, secured, closed: whenClosed(socket, () => readyAt) };
}

describe("timeouts that act within seconds", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startWith({
      handshakeTimeoutMs: 1_000,
      headersTimeoutMs: 1_000,
      requestTimeoutMs: 2_000,
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it("closes a TCP connection that never starts its TLS handshake", async () => {
    const started = Date.now();
    const socket = net.connect(server.port, "127.0.0.1");
    const closed = await whenClosed(socket, () => started);
    expect(closed.afterMs).toBeGreaterThanOrEqual(900);
    expect(closed.afterMs).toBeLessThan(3_000);
  });

  it("closes a TLS connection that stays silent after the handshake, with 408", async () => {
    const client = connectTls(server.port);
    const closed = await client.closed;
    expect(closed.afterMs).toBeLessThan(3_000);
    expect(closed.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes a connection that sends its headers slowly, with 408", async () => {
    let timer: NodeJS.Timeout | undefined;
    const client = connectTls(server.port, (socket) => {
      socket.write("POST /validate HTTP/1.1\r\nHost: localhost\r\n");
      timer = setInterval(() => socket.write("X-Slow: yes\r\n"), 200);
    });
    const closed = await client.closed;
    clearInterval(timer);
    expect(closed.afterMs).toBeLessThan(3_000);
    expect(closed.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes a connection that sends its body slowly, with 408", async () => {
    let timer: NodeJS.Timeout | undefined;
    const client = connectTls(server.port, (socket) => {
      socket.write(
        "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
          "Content-Length: 100000\r\n\r\n{",
      );
      timer = setInterval(() => socket.write(" "), 200);
    });
    const closed = await client.closed;
    clearInterval(timer);
    expect(closed.afterMs).toBeGreaterThanOrEqual(1_900);
    expect(closed.afterMs).toBeLessThan(4_000);
    expect(closed.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("still answers a prompt client meanwhile", async () => {
    const answer = await requestHttps(server.port, certs.caCert, "/healthz");
    expect(answer.status).toBe(200);
  });
});

describe("the connection cap", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startWith({ maxConnections: 3 });
  });

  afterAll(async () => {
    await server.close();
  });

  it("closes connections beyond the cap on arrival, counts them, and serves again below it", async () => {
    const held = Array.from({ length: 3 }, () => connectTls(server.port));
    await Promise.all(held.map((client) => client.secured));

    const started = Date.now();
    const extra = net.connect(server.port, "127.0.0.1");
    const closed = await whenClosed(extra, () => started);
    expect(closed.afterMs).toBeLessThan(1_000);
    expect(closed.received).toBe("");

    const metrics = await requestHttp(server.metricsPort ?? 0, "/metrics");
    expect(metrics.text).toMatch(/^stsguard_connections_dropped_total 1$/m);

    held[0]?.socket.destroy();
    await waitFor("a free slot", async () => {
      const answer = await requestHttps(server.port, certs.caCert, "/healthz").catch(() => null);
      return answer?.status === 200;
    });
    for (const client of held) client.socket.destroy();
  });
});

describe("a new connection's first request must arrive within --headers-timeout of the TCP accept", () => {
  let server: RunningServer;

  beforeAll(async () => {
    // A long handshake timeout: only the headers timeout can close these connections quickly.
    server = await startWith({
      handshakeTimeoutMs: 10_000,
      headersTimeoutMs: 1_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 100_000,
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it("closes a connection whose TLS handshake never finishes, well before the handshake timeout", async () => {
    const started = Date.now();
    const socket = net.connect(server.port, "127.0.0.1", () => {
      // The first bytes of a TLS record, and nothing more: the handshake stays pending.
      socket.write(Buffer.from([0x16, 0x03, 0x01]));
    });
    const closed = await whenClosed(socket, () => started);
    expect(closed.afterMs).toBeGreaterThanOrEqual(900);
    expect(closed.afterMs).toBeLessThan(1_900);
  });

  it("counts the handshake's time against the deadline: a late handshake gets only what is left", async () => {
    const started = Date.now();
    const raw = net.connect(server.port, "127.0.0.1");
    await new Promise((resolve) => raw.once("connect", resolve));
    await new Promise((resolve) => setTimeout(resolve, 700));
    const socket = tls.connect({ socket: raw, ca: certs.caCert, servername: "localhost" });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    const closed = await whenClosed(socket, () => started);
    // Node's own headers timeout would start at the handshake: 1.7 s at the earliest.
    expect(closed.afterMs).toBeLessThan(1_600);
    expect(closed.received).toMatch(/^HTTP\/1\.1 408 /);
    const metrics = await requestHttp(server.metricsPort ?? 0, "/metrics");
    expect(metrics.text).toMatch(
      /^stsguard_connections_cut_total\{reason="first-request-timeout"\} [1-9]\d*$/m,
    );
  });

  it("never cuts a kept-alive connection that idles between requests: that is the keep-alive timeout's job", async () => {
    const client = connectTls(server.port);
    await client.secured;
    let received = "";
    client.socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const answers = (): number => received.match(/HTTP\/1\.1 200 /g)?.length ?? 0;
    const ask = (): void => {
      client.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    };
    ask();
    await waitFor("the first answer", () => Promise.resolve(answers() === 1));
    // Idle for more than twice the headers timeout, as the API server's connections do for up to 90 s.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(client.socket.destroyed).toBe(false);
    ask();
    await waitFor("the second answer on the same connection", () =>
      Promise.resolve(answers() === 2),
    );
    expect(client.socket.destroyed).toBe(false);
    client.socket.destroy();
  });
});
