/**
 * Live reads only where they can change the answer: through the real HTTPS server and a cluster
 * source on the local list/watch API server, counted by `stsguard_live_reads_total` and by the
 * GETs the API server saw. A warning that rests on a healthy, fresh cache is answered from it; a
 * denial (or a patch copied from the StatefulSet) is confirmed live first.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { StsguardConfig } from "../../src/config/config.js";
import { createMemoryLogDestination, createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { aService } from "../helpers/objects.js";
import { makeTestCertificates } from "../helpers/tls.js";
import { startServer as startApiServer, startSource } from "../kube/harness.js";
import { postJson, requestHttp } from "../server/https-client.js";
import { aReview, configFor } from "./admission-inputs.js";

const certs = await makeTestCertificates();
const running: RunningServer[] = [];

afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

interface Webhook {
  post(path: "/mutate" | "/validate", podName: string): Promise<ReviewResponse>;
  /** Sum of stsguard_live_reads_total over all label sets. */
  liveReads(): Promise<number>;
  apiServerReads(): number;
}

interface ReviewResponse {
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
  patch?: string;
}

/** The webhook over HTTPS with a synced, fresh cluster source on the demo objects. */
async function startWebhook(config: StsguardConfig): Promise<Webhook> {
  const apiServer = await startApiServer();
  const metrics = createMetrics({ isSourceReady: () => true });
  const { source } = await startSource(apiServer, { metrics: metrics.clusterSource });
  const server = await startServer({
    source,
    config,
    logger: createLogger({ level: "silent", destination: createMemoryLogDestination() }),
    metrics,
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
    port: 0,
    metricsPort: 0,
  });
  running.push(server);
  return {
    async post(path, podName) {
      const review = aReview({ object: aService({ podName }) });
      const answer = await postJson(server.port, certs.caCert, path, review);
      expect(answer.status).toBe(200);
      return (answer.json as { response: ReviewResponse }).response;
    },
    async liveReads() {
      const answer = await requestHttp(server.metricsPort ?? 0, "/metrics");
      return answer.text
        .split("\n")
        .filter((line) => line.startsWith("stsguard_live_reads_total{"))
        .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
    },
    apiServerReads: () => apiServer.readRequests().length,
  };
}

describe("live reads: only where they can change the answer", () => {
  it("answers a statefulset-not-found warning from a fresh cache, without a live read", async () => {
    const webhook = await startWebhook(configFor("1.30"));
    for (let i = 0; i < 5; i += 1) {
      const response = await webhook.post("/validate", `cache-${i}`);
      expect(response.allowed).toBe(true);
      expect(response.warnings?.[0]).toMatch(/^statefulset-not-found: /);
      expect((await webhook.post("/mutate", `cache-${i}`)).allowed).toBe(true);
    }
    expect(await webhook.liveReads()).toBe(0);
    expect(webhook.apiServerReads()).toBe(0);
  });

  it("answers an allowed Service from a fresh cache, without a live read", async () => {
    const webhook = await startWebhook(configFor("1.30"));
    expect(await webhook.post("/validate", "web-2")).toMatchObject({ allowed: true });
    expect(await webhook.liveReads()).toBe(0);
  });

  it("still reads live before denying ordinal-out-of-range", async () => {
    const webhook = await startWebhook(configFor("1.30"));
    const response = await webhook.post("/validate", "web-3");
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toMatch(/^ordinal-out-of-range: /);
    // The StatefulSet and the HPAs of its namespace, which may widen its range.
    expect(await webhook.liveReads()).toBe(2);
    expect(webhook.apiServerReads()).toBe(2);
  });

  it("reads live before denying when statefulset-not-found is configured as an error", async () => {
    const { severities } = configFor("1.30").policy;
    const config = configFor("1.30", {
      policy: { severities: { ...severities, "statefulset-not-found": "error" } },
    });
    const webhook = await startWebhook(config);
    const response = await webhook.post("/validate", "cache-0");
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toMatch(/^statefulset-not-found: /);
    expect(await webhook.liveReads()).toBe(2);
  });

  it("reads live before a patch copied from the labels of a StatefulSet the cache lacks", async () => {
    const config = configFor("1.30", {
      policy: { extraLabels: [{ key: "example.com/team", fromStatefulSetLabel: "team" }] },
    });
    const webhook = await startWebhook(config);
    await webhook.post("/mutate", "cache-0");
    expect(await webhook.liveReads()).toBe(2);
  });
});
