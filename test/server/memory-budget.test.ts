/**
 * Concurrent large bodies against the request body budget, through the real HTTPS server: what
 * does not fit waits unread, then is answered, or gets 429 with Retry-After once it waited too
 * long; never a 500 or a reset. The bytes in flight never exceed the budget (a metrics recorder
 * sees every change). The source holds every admission at a gate, so the bodies stay in flight
 * as long as the test wants, with no timing involved.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  createBodyBudget,
  defaultBodyBudgetBytes,
  UNLIMITED_BODY_BUDGET_BYTES,
  type BodyBudgetMetrics,
} from "../../src/memory/body-budget.js";
import { readContainerMemoryLimit } from "../../src/memory/container-memory.js";
import { createMemoryLogDestination, createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { StatefulSetLookup } from "../../src/policy/index.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import type { StatefulSetSource } from "../../src/statefulsets/source.js";
import { aService } from "../helpers/objects.js";
import { makeTestCertificates } from "../helpers/tls.js";
import { waitFor } from "../helpers/wait-for.js";
import { aReview, configFor, web } from "../admission/admission-inputs.js";
import { postJson, requestHttp, type Answer } from "./https-client.js";

const MiB = 1024 * 1024;
const certs = await makeTestCertificates();
const running: RunningServer[] = [];

afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

/** A ~2.5 MB AdmissionReview: a per-pod Service for web-0 with a large annotation. */
function largeReview(index: number): string {
  const object = aService({ podName: "web-0" });
  (object["metadata"] as Record<string, unknown>)["annotations"] = {
    "example.com/blob": "x".repeat(2.5 * MiB),
  };
  return JSON.stringify(aReview({ uid: `uid-${index}`, object }));
}

/** A source whose lookups wait until `open()`; counts the lookups under way. */
function gatedSource(): StatefulSetSource & { open(): void; pending(): number } {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let pending = 0;
  const lookup = async (): Promise<StatefulSetLookup> => {
    pending += 1;
    await gate;
    pending -= 1;
    return { status: "found", statefulSet: web };
  };
  return {
    lookup,
    // Never from memory: every admission waits on the gate.
    lookupCached: () => null,
    lookupLive: lookup,
    perPodServices: () => Promise.resolve([]),
    lookupService: () => Promise.resolve({ status: "not-found" } as const),
    autoscalers: () => Promise.resolve([]),
    autoscalersLive: () => Promise.resolve([]),
    isReady: () => true,
    close: () => Promise.resolve(),
    open: release,
    pending: () => pending,
  };
}

interface Budgeted {
  readonly server: RunningServer;
  readonly source: ReturnType<typeof gatedSource>;
  readonly peakInUse: () => number;
  readonly waits: () => number;
  readonly metric: (name: string) => Promise<number>;
}

async function startBudgeted(maxBytes: number, maxWaitMs: number): Promise<Budgeted> {
  const source = gatedSource();
  const metrics = createMetrics({ isSourceReady: () => true });
  let peak = 0;
  let waits = 0;
  const recorder: BodyBudgetMetrics = {
    recordWait: () => {
      waits += 1;
      metrics.bodyBudget.recordWait();
    },
    recordRejection: () => {
      metrics.bodyBudget.recordRejection();
    },
    setInUse: (bytes) => {
      peak = Math.max(peak, bytes);
      metrics.bodyBudget.setInUse(bytes);
    },
  };
  const server = await startServer({
    source,
    config: configFor("1.30"),
    logger: createLogger({ level: "silent", destination: createMemoryLogDestination() }),
    metrics,
    bodyBudget: createBodyBudget({ maxBytes, maxWaitMs, metrics: recorder }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
    port: 0,
    metricsPort: 0,
  });
  running.push(server);
  return {
    server,
    source,
    peakInUse: () => peak,
    waits: () => waits,
    async metric(name) {
      const text = (await requestHttp(server.metricsPort ?? 0, "/metrics")).text;
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      return Number(line?.split(" ")[1]);
    },
  };
}

function post(b: Budgeted, body: string): Promise<Answer> {
  return postJson(b.server.port, certs.caCert, "/validate", body);
}

describe("request body budget under concurrent large bodies", () => {
  const bodies = Array.from({ length: 6 }, (_, i) => largeReview(i));
  const bodyBytes = Buffer.byteLength(bodies[0] ?? "");
  // Room for two bodies at a time.
  const budgetBytes = 2 * bodyBytes + 1024;

  it("holds the bodies that do not fit back until room frees, then answers every one", async () => {
    const b = await startBudgeted(budgetBytes, 60_000);
    const answers = Promise.all(bodies.map((body) => post(b, body)));
    await waitFor("two admissions in flight and four waiting", () => {
      return b.source.pending() === 2 && b.waits() === 4;
    });
    expect(await b.metric("stsguard_body_budget_bytes_in_use")).toBe(2 * bodyBytes);
    expect(await b.metric("stsguard_body_budget_waits_total")).toBe(4);
    b.source.open();
    const done = await answers;
    expect(done.map((a) => a.status)).toEqual(bodies.map(() => 200));
    expect(done.map((a) => (a.json as { response: { uid: string } }).response.uid)).toEqual(
      bodies.map((_, i) => `uid-${i}`),
    );
    expect(b.peakInUse()).toBeLessThanOrEqual(budgetBytes);
    expect(await b.metric("stsguard_body_budget_bytes_in_use")).toBe(0);
    expect(await b.metric("stsguard_body_budget_rejections_total")).toBe(0);
  });

  it("answers 429 with Retry-After to what waited too long, never 500", async () => {
    const b = await startBudgeted(budgetBytes, 50);
    const answers = bodies.map((body) => post(b, body));
    // The four that do not fit are turned away while the first two are still held.
    const turnedAway = await Promise.all(answers.slice(2));
    expect(b.source.pending()).toBe(2);
    for (const answer of turnedAway) {
      expect(answer.status).toBe(429);
      expect(answer.headers["retry-after"]).toBe("1");
      expect(answer.json).toMatchObject({
        kind: "Status",
        code: 429,
        reason: "TooManyRequests",
        message: expect.stringMatching(/memory budget of \d+ bytes/) as unknown,
      });
    }
    b.source.open();
    const served = await Promise.all(answers.slice(0, 2));
    expect(served.map((a) => a.status)).toEqual([200, 200]);
    expect(b.peakInUse()).toBeLessThanOrEqual(budgetBytes);
    expect(await b.metric("stsguard_body_budget_rejections_total")).toBe(4);
    // Room again: the next large body is served at once.
    expect((await post(b, bodies[0] ?? "")).status).toBe(200);
  });

  it("serves small reviews beside large ones as long as they fit", async () => {
    const b = await startBudgeted(bodyBytes + 64 * 1024, 60_000);
    const large = post(b, bodies[0] ?? "");
    await waitFor("the large admission in flight", () => b.source.pending() === 1);
    const small = post(b, JSON.stringify(aReview({ uid: "small", object: aService() })));
    await waitFor("the small admission in flight", () => b.source.pending() === 2);
    expect(b.waits()).toBe(0);
    b.source.open();
    expect((await small).status).toBe(200);
    expect((await large).status).toBe(200);
  });
});

describe("default budget from the container's memory limit", () => {
  const root = mkdtempSync(join(tmpdir(), "stsguard-cgroup-"));
  const cgroup = (name: string, files: Readonly<Record<string, string | undefined>>): string => {
    const dir = join(root, name);
    for (const [file, text = ""] of Object.entries(files)) {
      mkdirSync(join(dir, file, ".."), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  it.each([
    { name: "cgroup v2 with a limit", files: { "memory.max": "268435456\n" }, limit: 256 * MiB },
    { name: "cgroup v2 without one", files: { "memory.max": "max\n" }, limit: null },
    {
      name: "cgroup v1 with a limit",
      files: { "memory/memory.limit_in_bytes": "536870912\n" },
      limit: 512 * MiB,
    },
    {
      name: "cgroup v1 unlimited",
      files: { "memory/memory.limit_in_bytes": "9223372036854771712\n" },
      limit: null,
    },
    { name: "no cgroup files", files: {}, limit: null },
  ])("reads the limit: $name", ({ name, files, limit }) => {
    expect(readContainerMemoryLimit(cgroup(name.replaceAll(" ", "-"), files))).toBe(limit);
  });

  it("leaves room for the baseline and never goes below one body of the largest size", () => {
    const maxBody = 3 * MiB;
    expect(defaultBodyBudgetBytes(256 * MiB, maxBody)).toBe(20 * MiB);
    expect(defaultBodyBudgetBytes(512 * MiB, maxBody)).toBe(52 * MiB);
    expect(defaultBodyBudgetBytes(64 * MiB, maxBody)).toBe(maxBody);
    expect(defaultBodyBudgetBytes(null, maxBody)).toBe(UNLIMITED_BODY_BUDGET_BYTES);
  });
});
