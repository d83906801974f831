// What the admission log line carries, and at which level: a denial, a patch, a warning, what
// monitor mode would have refused, at info with who asked; a plain allow only at debug, as
// Gatekeeper (--log-denies) and Kyverno at its default verbosity log denials, not every allow.
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DEFAULT_GUARDRAILS } from "../../src/guardrails/index.js";
import {
  createLogger,
  createMemoryLogDestination,
  logAdmission,
  type AdmissionLogFields,
  type MemoryLogDestination,
} from "../../src/observability/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { aReview, configFor, fixtureSource } from "../admission/admission-inputs.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { postJson } from "./https-client.js";

let certs: TestCertificates;
const servers: RunningServer[] = [];

beforeAll(async () => {
  certs = await makeTestCertificates();
});

afterAll(async () => {
  for (const server of servers) await server.close();
});

async function serverLogging(
  level: "info" | "debug",
  mode: "enforce" | "monitor" = "enforce",
): Promise<{ server: RunningServer; logs: MemoryLogDestination }> {
  const logs = createMemoryLogDestination();
  const server = await startServer({
    source: fixtureSource(),
    config: configFor("1.26", { guardrails: { ...DEFAULT_GUARDRAILS, mode } }),
    logger: createLogger({ level, destination: logs }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
  });
  servers.push(server);
  return { server, logs };
}

const LABELLED_LOCAL = { type: "LoadBalancer", externalTrafficPolicy: "Local" } as const;

/** Sends `review` to `path` and returns the admission lines logged for its uid. */
async function linesFor(
  target: { server: RunningServer; logs: MemoryLogDestination },
  path: string,
  review: Record<string, unknown>,
): Promise<Record<string, unknown>[]> {
  const answer = await postJson(target.server.port, certs.caCert, path, review);
  expect(answer.status).toBe(200);
  const uid = (review["request"] as { uid: string }).uid;
  return target.logs.records().filter((r) => r["msg"] === "admission" && r["uid"] === uid);
}

describe("the admission log line at the default level (info)", () => {
  let info: { server: RunningServer; logs: MemoryLogDestination };
  beforeAll(async () => {
    info = await serverLogging("info");
  });

  it("logs a denial with what, who, the decision and the rules", async () => {
    const review = aReview({ uid: "deny-1", object: aService({ podName: "web-7" }) });
    expect(await linesFor(info, "/validate", review)).toEqual([
      expect.objectContaining({
        level: "info",
        endpoint: "validate",
        kind: "Service",
        operation: "CREATE",
        namespace: "demo",
        name: "web-7",
        user: "admin",
        dryRun: false,
        decision: "denied",
        mode: "enforce",
        rules: ["ordinal-out-of-range"],
      }),
    ]);
  });

  it("logs a patch with its operation count", async () => {
    const review = aReview({
      uid: "patch-1",
      object: aService({ podName: "web-1", noLabels: true, ...LABELLED_LOCAL }),
    });
    const lines = await linesFor(info, "/mutate", review);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "info", decision: "patched", user: "admin" });
    expect(lines[0]?.["patchOps"]).toBeGreaterThan(0);
  });

  it("logs an allowed request that carries a warning", async () => {
    const review = aReview({
      uid: "warn-1",
      object: aService({ podName: "later-0", ...LABELLED_LOCAL }),
    });
    expect(await linesFor(info, "/validate", review)).toEqual([
      expect.objectContaining({
        level: "info",
        decision: "allowed",
        rules: ["statefulset-not-found"],
      }),
    ]);
  });

  it("logs nothing for a compliant per-pod Service, nor for a Service it does not judge", async () => {
    const compliant = aReview({
      uid: "allow-1",
      object: aService({ podName: "web-1", ...LABELLED_LOCAL }),
    });
    expect(await linesFor(info, "/validate", compliant)).toEqual([]);
    expect(await linesFor(info, "/mutate", { ...compliant })).toEqual([]);
    const headless = aReview({
      uid: "ignored-1",
      object: aService({ name: "web", selector: { app: "web" }, clusterIP: "None" }),
    });
    expect(await linesFor(info, "/validate", headless)).toEqual([]);
    const statefulSet = aReview({
      uid: "sts-1",
      kind: { group: "apps", version: "v1", kind: "StatefulSet" },
      resource: { group: "apps", version: "v1", resource: "statefulsets" },
      object: aStatefulSet({ name: "web", replicas: 2 }),
    });
    expect(await linesFor(info, "/validate", statefulSet)).toEqual([]);
  });

  it("logs what monitor mode would have denied, though the request was allowed", async () => {
    const monitor = await serverLogging("info", "monitor");
    const review = aReview({ uid: "monitor-1", object: aService({ podName: "web-7" }) });
    expect(await linesFor(monitor, "/validate", review)).toEqual([
      expect.objectContaining({
        level: "info",
        decision: "denied",
        mode: "monitor",
        monitored: true,
        rules: ["ordinal-out-of-range"],
      }),
    ]);
  });
});

describe("the admission log line at debug", () => {
  it("logs every allow too", async () => {
    const debug = await serverLogging("debug");
    const review = aReview({
      uid: "allow-debug-1",
      object: aService({ podName: "web-1", ...LABELLED_LOCAL }),
    });
    expect(await linesFor(debug, "/validate", review)).toEqual([
      expect.objectContaining({
        level: "debug",
        decision: "allowed",
        subject: "service",
        user: "admin",
      }),
    ]);
  });
});

describe("the admission line as written", () => {
  /** The same line through pino's own serializer, with the options createLogger uses. */
  function pinoLine(level: "info" | "debug", fields: AdmissionLogFields): Record<string, unknown> {
    const lines: string[] = [];
    const logger = pino(
      {
        level: "debug",
        base: { name: "stsguard" },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      { write: (line: string) => lines.push(line) },
    );
    logger[level](fields, "admission");
    return JSON.parse(lines[0] ?? "null") as Record<string, unknown>;
  }

  const text = fc.string({ unit: "binary", maxLength: 40 });
  const fieldsArbitrary: fc.Arbitrary<AdmissionLogFields> = fc.record({
    endpoint: fc.constantFrom("mutate", "validate"),
    uid: text,
    kind: text,
    operation: text,
    namespace: text,
    name: text,
    user: text,
    dryRun: fc.boolean(),
    subject: fc.constantFrom("service", "statefulset", "scale", "ignored"),
    decision: fc.constantFrom("allowed", "patched", "denied"),
    mode: fc.option(fc.constantFrom("enforce", "warn", "monitor", "off"), { nil: undefined }),
    monitored: fc.option(fc.constant(true as const), { nil: undefined }),
    exemptions: fc.option(fc.array(text, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    rules: fc.option(fc.array(text, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    patchOps: fc.nat(20),
    lookupFailure: fc.option(text, { nil: undefined }),
    durationMs: fc.oneof(fc.double({ min: 0, max: 10_000, noNaN: true }), fc.constant(Number.NaN)),
  });

  it("is the line pino would write, field for field and in the same order", () => {
    fc.assert(
      fc.property(
        fieldsArbitrary,
        fc.constantFrom("info" as const, "debug" as const),
        (fields, level) => {
          const memory = createMemoryLogDestination();
          logAdmission(createLogger({ level: "debug", destination: memory }), level, fields);
          const [ours] = memory.records();
          const theirs = pinoLine(level, fields);
          expect(Object.keys(ours ?? {})).toEqual(Object.keys(theirs));
          expect({ ...ours, time: "" }).toEqual({ ...theirs, time: "" });
          expect(ours?.["time"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("writes nothing below the logger's level", () => {
    const memory = createMemoryLogDestination();
    const fields = {
      endpoint: "validate",
      uid: "u",
      kind: "Service",
      operation: "CREATE",
      namespace: "demo",
      name: "web-0",
      user: "admin",
      dryRun: false,
      subject: "service",
      decision: "allowed",
      mode: "enforce",
      monitored: undefined,
      exemptions: undefined,
      rules: undefined,
      patchOps: 0,
      lookupFailure: undefined,
      durationMs: 0.2,
    };
    logAdmission(createLogger({ level: "info", destination: memory }), "debug", fields);
    expect(memory.records()).toEqual([]);
  });
});

describe("the time of a line", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is the ISO time of its millisecond, as pino's isoTime writes it", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const memory = createMemoryLogDestination();
    const logger = createLogger({ destination: memory });
    const instants = [
      "2026-12-06T09:55:12.000Z",
      "2026-12-06T09:55:12.005Z",
      "2026-12-06T09:55:12.045Z",
      "2026-12-06T09:55:12.999Z",
      "2026-12-06T09:55:13.000Z",
      "2026-12-06T09:55:13.120Z",
      "2027-01-01T00:00:00.001Z",
      "2026-12-06T09:55:12.500Z",
    ];
    for (const instant of instants) {
      vi.setSystemTime(new Date(instant));
      logger.info("tick");
    }
    expect(memory.records().map((r) => r["time"])).toEqual(instants);
  });
});
