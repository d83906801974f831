import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadFixture } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { requestHttp, requestHttps } from "./https-client.js";
import { startServeProcess, type ServeProcess } from "./serve-process.js";

/**
 * A log reader that stops reading (a stuck log shipper, a full pipe) must not stop admission,
 * nor grow the webhook's memory without bound. The built `serve` writes its JSON lines to stdout
 * off the request's path: with the reader stalled, lines wait in memory up to 4 MiB and arrive
 * once it reads again; beyond that they are dropped. Synchronous writes would block the event loop
 * at the first full pipe; process.stdout would queue every line until the pod is OOM-killed.
 */

const PENDING_LOG_BOUND_BYTES = 4 * 1024 * 1024;
const CLIENTS = 4;

/** The recorded per-pod Service with a 240-character name: log lines of about 1 KB. */
function reviewBody(index: number): string {
  const review = loadFixture("service-create-loadbalancer.at-validating") as {
    request: { uid: string; name: string; object: { metadata: { name: string } } };
  };
  review.request.uid = `stalled-${index}`;
  review.request.name = `${"n".repeat(230)}-${String(index).padStart(9, "0")}`;
  review.request.object.metadata.name = review.request.name;
  return JSON.stringify(review);
}

async function sendAll(serve: ServeProcess, from: number, count: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = from;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: serve.ca });
      try {
        while (next < from + count) {
          const index = next;
          next += 1;
          const answer = await requestHttps(serve.port, serve.ca, "/validate", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: reviewBody(index),
            agent,
          });
          statuses.push(answer.status);
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return statuses;
}

function admissionLines(serve: ServeProcess): string[] {
  return serve
    .output()
    .stdout.split("\n")
    .filter((line) => line.includes('"msg":"admission"'));
}

describe("a log reader that stops reading", () => {
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServeProcess([]);
  });

  afterAll(async () => {
    await serve.dispose();
  });

  it("keeps answering, and delivers every held line once the reader reads again", async () => {
    serve.child.stdout?.pause();
    // ~2 MB of lines: thirty times a pipe's buffer, half the bound.
    const statuses = await sendAll(serve, 0, 2_000);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    serve.child.stdout?.resume();
    await waitFor("2,000 admission lines", () => admissionLines(serve).length >= 2_000, 10_000);
    expect(admissionLines(serve)).toHaveLength(2_000);
    // The premise: what was held stayed under the bound.
    const heldBytes = admissionLines(serve).reduce((n, line) => n + line.length + 1, 0);
    expect(heldBytes).toBeLessThan(PENDING_LOG_BOUND_BYTES);
  }, 60_000);

  it("drops lines beyond the bound instead of growing", async () => {
    serve.child.stdout?.pause();
    const before = admissionLines(serve).length;
    // ~9 MB of lines: twice the bound.
    const sent = 9_000;
    const statuses = await sendAll(serve, 10_000, sent);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    serve.child.stdout?.resume();
    // Whatever was held arrives; the rest was dropped, not queued, and counted.
    const dropped = async (): Promise<number> => {
      const metrics = await requestHttp(serve.metricsPort, "/metrics");
      return Number(/^stsguard_log_lines_dropped_total (\d+)$/m.exec(metrics.text)?.[1]);
    };
    await waitFor(
      "every line delivered or counted as dropped",
      async () => (await dropped()) + admissionLines(serve).length - before === sent,
      10_000,
    );
    const delivered = admissionLines(serve).slice(before);
    const deliveredBytes = delivered.reduce((n, line) => n + line.length + 1, 0);
    expect(delivered.length).toBeLessThan(sent);
    // At least the bound's worth, less what the pipe and the reader's buffer took before.
    expect(deliveredBytes).toBeGreaterThan(PENDING_LOG_BOUND_BYTES * 0.9);
    expect((await dropped()) + delivered.length).toBe(sent);
  }, 60_000);
});
