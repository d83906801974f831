// A rolling update as the webhook sees it: the built `stsguard serve` under keep-alive load gets
// SIGTERM. The API server does not retry a webhook POST, so every failed request here would be a
// user's failed `kubectl apply`.
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadFixture } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { requestHttp, requestHttps } from "./https-client.js";
import { startServeProcess, type ServeProcess } from "./serve-process.js";

const CLIENTS = 12;
const DRAIN_DELAY_MS = 3_000;
// How long the load goes on after /readyz turned 503: endpoints drop the pod within the drain.
const LOAD_AFTER_NOT_READY_MS = 1_000;

interface Outcome {
  readonly startedAt: number;
  readonly status: number | null;
  readonly connection: string | undefined;
  readonly error: string | null;
}

describe("SIGTERM under keep-alive load", () => {
  let serve: ServeProcess;
  const outcomes: Outcome[] = [];
  let sigtermAt = 0;
  let firstNotReadyAt = Number.POSITIVE_INFINITY;
  const readyz: { startedAt: number; status: number }[] = [];
  let exitedAt = 0;

  beforeAll(async () => {
    serve = await startServeProcess(["--drain-delay", `${DRAIN_DELAY_MS}ms`]);
    const body = JSON.stringify(loadFixture("service-create-loadbalancer.at-validating"));
    const load = { sending: true, probing: true };
    // Each client holds one kept-alive connection and sends on it back to back, as the API
    // server's HTTP client does under load.
    const clients = Array.from({ length: CLIENTS }, async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: serve.ca });
      while (load.sending) {
        const startedAt = Date.now();
        try {
          const answer = await requestHttps(serve.port, serve.ca, "/validate", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body,
            agent,
          });
          outcomes.push({
            startedAt,
            status: answer.status,
            connection: answer.headers.connection,
            error: null,
          });
        } catch (error: unknown) {
          outcomes.push({ startedAt, status: null, connection: undefined, error: String(error) });
        }
      }
      agent.destroy();
    });
    // The kubelet's readiness probe, on the metrics port.
    const probe = (async () => {
      while (load.probing) {
        const startedAt = Date.now();
        // Refused once the drain is over and the listener closed.
        const answer = await requestHttp(serve.metricsPort, "/readyz").catch(() => null);
        if (sigtermAt > 0 && answer !== null) {
          readyz.push({ startedAt, status: answer.status });
          if (answer.status === 503) firstNotReadyAt = Math.min(firstNotReadyAt, Date.now());
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    await waitFor("load on every connection", () => outcomes.length >= CLIENTS * 5, 10_000);
    sigtermAt = Date.now();
    serve.child.kill("SIGTERM");
    await waitFor("/readyz to answer 503", () => firstNotReadyAt < Number.POSITIVE_INFINITY);
    // Endpoints drop the pod within the drain delay; until then the load goes on.
    await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_NOT_READY_MS));
    load.sending = false;
    await Promise.all(clients);
    const exit = await serve.exited;
    exitedAt = Date.now();
    load.probing = false;
    await probe;
    expect(exit).toEqual({ code: 0, signal: null });
  }, 40_000);

  afterAll(async () => {
    await serve.dispose();
  });

  it("loses no request", () => {
    const failed = outcomes.filter((o) => o.error !== null || o.status !== 200);
    expect(failed).toEqual([]);
    expect(outcomes.filter((o) => o.startedAt > firstNotReadyAt).length).toBeGreaterThan(CLIENTS);
  });

  it("turns /readyz to 503 at once and keeps it so through the drain", () => {
    expect(firstNotReadyAt - sigtermAt).toBeLessThan(DRAIN_DELAY_MS / 2);
    const later = readyz.filter((probe) => probe.startedAt >= firstNotReadyAt);
    // Probes every 20 ms through a drain of 3 s: many, and every one says 503.
    expect(later.length).toBeGreaterThan(10);
    expect(later.every((probe) => probe.status === 503)).toBe(true);
  });

  it("answers with Connection: close once the drain began", () => {
    const afterDrainBegan = outcomes.filter((o) => o.startedAt > firstNotReadyAt);
    expect(afterDrainBegan.every((o) => o.connection === "close")).toBe(true);
    const beforeSigterm = outcomes.filter((o) => o.startedAt < sigtermAt);
    expect(beforeSigterm.some((o) => o.connection === "keep-alive")).toBe(true);
  });

  it("keeps serving for the drain delay, then exits 0 promptly", () => {
    expect(exitedAt - sigtermAt).toBeGreaterThanOrEqual(DRAIN_DELAY_MS);
    expect(exitedAt - sigtermAt).toBeLessThan(DRAIN_DELAY_MS + 5_000);
    const { stdout } = serve.output();
    expect(stdout).toContain('"msg":"draining: /readyz answers 503, still serving"');
    expect(stdout).toContain('"msg":"stsguard webhook stopped"');
    expect(stdout).not.toContain("shutdown timeout passed");
  });
});
