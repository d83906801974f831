// close() step by step, in process: the drain keeps serving, the end of the drain spares any
// connection a request has started on, and the shutdown timeout bounds the whole.
import tls from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { aReview, configFor, fixtureSource } from "../admission/admission-inputs.js";
import { aService } from "../helpers/objects.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { waitFor } from "../helpers/wait-for.js";
import { requestHttp, requestHttps } from "./https-client.js";

let certs: TestCertificates;

beforeAll(async () => {
  certs = await makeTestCertificates();
});

function start(drainDelayMs: number, shutdownTimeoutMs = 10_000): Promise<RunningServer> {
  return startServer({
    source: fixtureSource(),
    config: configFor("1.26"),
    logger: createLogger({ destination: createMemoryLogDestination() }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
    metricsPort: 0,
    drainDelayMs,
    shutdownTimeoutMs,
  });
}

/** A raw TLS connection: what arrives on it, and when it closes. */
async function openRaw(port: number): Promise<{
  socket: tls.TLSSocket;
  received: () => string;
  closed: Promise<void>;
  errors: Error[];
}> {
  const socket = tls.connect({
    port,
    host: "127.0.0.1",
    ca: certs.caCert,
    servername: "localhost",
  });
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
  const errors: Error[] = [];
  socket.on("error", (error) => errors.push(error));
  const closed = new Promise<void>((resolve) =>
    socket.on("close", () => {
      resolve();
    }),
  );
  await new Promise<void>((resolve) =>
    socket.once("secureConnect", () => {
      resolve();
    }),
  );
  return { socket, received: () => received, closed, errors };
}

const body = JSON.stringify(aReview({ object: aService({ podName: "web-7" }) }));

describe("close() with a drain delay", () => {
  it("keeps accepting and answering during the drain, /readyz 503 and Connection: close", async () => {
    const server = await start(1_000);
    const closing = server.close();
    const started = Date.now();
    const readyz = await requestHttp(server.metricsPort ?? 0, "/readyz");
    expect(readyz.status).toBe(503);
    expect(readyz.text).toBe("not ready: shutting down\n");
    // A brand-new connection, during the drain.
    const answer = await requestHttps(server.port, certs.caCert, "/validate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("close");
    await closing;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("answers a request whose first bytes arrived before the drain ended", async () => {
    const server = await start(300);
    const raw = await openRaw(server.port);
    const head =
      `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    raw.socket.write(head.slice(0, 20));
    const closing = server.close();
    // Well past the end of the drain, when the listener is closed and idle connections are cut.
    await new Promise((resolve) => setTimeout(resolve, 600));
    raw.socket.write(head.slice(20) + "\r\n" + body);
    await raw.closed;
    await closing;
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(raw.received()).toContain('"allowed":false');
  });

  it("closes a kept-alive connection that is idle when the drain ends, without a reset", async () => {
    const server = await start(300);
    const raw = await openRaw(server.port);
    raw.socket.write(
      `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await waitFor("the answer", () => raw.received().includes('"allowed":false'));
    expect(raw.received()).toMatch(/\r\nConnection: keep-alive\r\n/i);
    const started = Date.now();
    await server.close();
    await raw.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(raw.errors).toEqual([]);
  });

  it("cuts a request that never finishes once the shutdown timeout has passed", async () => {
    const server = await start(100, 500);
    const raw = await openRaw(server.port);
    raw.socket.write("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{");
    const started = Date.now();
    await server.close();
    await raw.closed;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(3_000);
  });
});
