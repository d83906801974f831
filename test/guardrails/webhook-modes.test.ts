// What each mode does at the webhook beyond the answer: `off` reads nothing, `monitor` counts and
// logs what enforce would have done, exemptions are counted and logged by name, and the expiry of
// each exemption is a metric an alert can watch.
import { mkdtemp, rm, writeFile, mkdir, symlink, rename } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { watchConfigFile } from "../../src/config/reload.js";
import { createMemoryLogDestination, createLogger } from "../../src/observability/logger.js";
import { summarizeStatefulSet, type StatefulSetSummary } from "../../src/policy/index.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { createStaticSource, type StatefulSetSource } from "../../src/statefulsets/source.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { waitFor } from "../helpers/wait-for.js";
import { postJson, requestHttp } from "../server/https-client.js";

const config = parseConfig(
  `
mode: enforce
namespaces:
  - names: [quiet]
    mode: monitor
  - names: [skipped]
    mode: "off"
exemptions:
  - name: kafka-migration
    reason: PLAT-123
    expires: "2099-12-31T23:59:59Z"
    namespaces: [kafka]
  - name: forever
    reason: ADR-1
    namespaces: [legacy]
`,
  "stsguard.yaml",
);

const web = (namespace: string): StatefulSetSummary =>
  summarizeStatefulSet(aStatefulSet({ name: "web", namespace, replicas: 2 }), namespace)!;

let lookups = 0;
const inner = createStaticSource(["quiet", "skipped", "kafka", "prod"].map(web));
const source: StatefulSetSource = {
  ...inner,
  lookup: (namespace, name) => {
    lookups += 1;
    return inner.lookup(namespace, name);
  },
  lookupCached: (namespace, name) => {
    lookups += 1;
    return inner.lookupCached(namespace, name);
  },
  lookupLive: (namespace, name) => {
    lookups += 1;
    return inner.lookupLive(namespace, name);
  },
};

let certs: TestCertificates;
let server: RunningServer;
const logs = createMemoryLogDestination();

beforeAll(async () => {
  certs = await makeTestCertificates();
  server = await startServer({
    source,
    config,
    logger: createLogger({ level: "info", destination: logs }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
    port: 0,
    metricsPort: 0,
  });
});

afterAll(async () => {
  await server.close();
});

function review(uid: string, object: Record<string, unknown>) {
  const metadata = object["metadata"] as { name: string; namespace: string };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: { group: "", version: "v1", kind: "Service" },
      namespace: metadata.namespace,
      name: metadata.name,
      operation: "CREATE",
      userInfo: { username: "alice", groups: [] },
      object,
    },
  };
}

const post = async (endpoint: string, uid: string, object: Record<string, unknown>) =>
  (await postJson(server.port, certs.caCert, endpoint, review(uid, object))).json as {
    response: { allowed: boolean; patch?: string; warnings?: string[] };
  };

const metrics = async (): Promise<string> =>
  (await requestHttp(server.metricsPort ?? 0, "/metrics")).text;

const logOf = (uid: string) => logs.records().find((r) => r["uid"] === uid);

describe("webhook modes", () => {
  it("off: allowed untouched, without a StatefulSet lookup", async () => {
    const before = lookups;
    const answer = await post(
      "/validate",
      "off-1",
      aService({ namespace: "skipped", podName: "web-9", noLabels: true }),
    );
    expect(answer.response).toEqual({ uid: "off-1", allowed: true });
    const mutated = await post(
      "/mutate",
      "off-2",
      aService({ namespace: "skipped", podName: "web-9", noLabels: true }),
    );
    expect(mutated.response.patch).toBeUndefined();
    expect(lookups).toBe(before);
    // Counted with its mode; a plain allow is logged only at debug.
    expect(await metrics()).toMatch(
      /stsguard_admission_requests_total\{endpoint="validate",decision="allowed",mode="off"\} 1/,
    );
    expect(logOf("off-1")).toBeUndefined();
  });

  it("monitor: allows with no warning and no patch, and counts what enforce would have done", async () => {
    const denied = await post(
      "/validate",
      "mon-1",
      aService({ namespace: "quiet", podName: "web-9" }),
    );
    expect(denied.response).toEqual({ uid: "mon-1", allowed: true });
    const patched = await post(
      "/mutate",
      "mon-2",
      aService({ namespace: "quiet", podName: "web-1", noLabels: true }),
    );
    expect(patched.response).toEqual({ uid: "mon-2", allowed: true });
    const text = await metrics();
    expect(text).toMatch(
      /stsguard_admission_requests_total\{endpoint="validate",decision="denied",mode="monitor"\} 1/,
    );
    expect(text).toMatch(
      /stsguard_admission_requests_total\{endpoint="mutate",decision="patched",mode="monitor"\} 1/,
    );
    expect(text).toMatch(
      /stsguard_admission_findings_total\{endpoint="validate",rule="ordinal-out-of-range",severity="error"\} [1-9]/,
    );
    expect(logOf("mon-1")).toMatchObject({
      mode: "monitor",
      monitored: true,
      decision: "denied",
      rules: ["ordinal-out-of-range"],
    });
  });

  it("enforce: denials are counted with their mode", async () => {
    const answer = await post(
      "/validate",
      "enf-1",
      aService({ namespace: "prod", podName: "web-9" }),
    );
    expect(answer.response.allowed).toBe(false);
    expect(await metrics()).toMatch(
      /stsguard_admission_requests_total\{endpoint="validate",decision="denied",mode="enforce"\} 1/,
    );
  });

  it("counts and logs the exemptions that applied, by name", async () => {
    const answer = await post(
      "/validate",
      "ex-1",
      aService({ namespace: "kafka", podName: "web-9" }),
    );
    expect(answer.response.allowed).toBe(true);
    expect(answer.response.warnings?.[0]).toMatch(
      /^ordinal-out-of-range: exempted by kafka-migration \(PLAT-123\) until 2099-12-31T23:59:59Z: /,
    );
    expect(await metrics()).toContain(
      'stsguard_exemptions_applied_total{exemption="kafka-migration"} 1',
    );
    expect(logOf("ex-1")).toMatchObject({
      exemptions: ["kafka-migration"],
      decision: "allowed",
      mode: "enforce",
    });
  });

  it("publishes when each exemption expires", async () => {
    const text = await metrics();
    expect(text).toContain(
      `stsguard_exemption_expiry_timestamp_seconds{exemption="kafka-migration"} ${Date.parse("2099-12-31T23:59:59Z") / 1000}`,
    );
    expect(text).not.toMatch(/stsguard_exemption_expiry_timestamp_seconds\{exemption="forever"\}/);
    expect(text).toMatch(/stsguard_config_info\{hash="defaults"\} 1/);
  });
});

describe("watchConfigFile", () => {
  it("sees a ..data swap through the directory watch alone (polling far off)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "config-watch-"));
    try {
      const publish = async (stamp: string, text: string): Promise<void> => {
        await mkdir(path.join(dir, stamp));
        await writeFile(path.join(dir, stamp, "config.yaml"), text);
        await symlink(stamp, path.join(dir, "..data_tmp"));
        await rename(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
      };
      await publish("..a", "mode: warn\n");
      await symlink("..data/config.yaml", path.join(dir, "config.yaml"));
      const events: string[] = [];
      const watcher = await watchConfigFile({
        path: path.join(dir, "config.yaml"),
        logger: createLogger({ level: "silent", destination: createMemoryLogDestination() }),
        pollIntervalMs: 600_000,
        debounceMs: 20,
        onReload: (event) => events.push(event.outcome),
      });
      try {
        expect(watcher.current().guardrails.mode).toBe("warn");
        await publish("..b", "mode: monitor\n");
        await waitFor("the watch", () => watcher.current().guardrails.mode === "monitor", 3_000);
        await publish("..c", "mode: [broken\n");
        await waitFor("the rejection", () => events.includes("rejected"), 3_000);
        expect(watcher.current().guardrails.mode).toBe("monitor");
        expect(events).toEqual(["applied", "rejected"]);
      } finally {
        watcher.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
