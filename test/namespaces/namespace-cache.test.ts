import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { namespaceMode } from "../../src/guardrails/index.js";
import { createNamespaceCache, type NamespaceCache } from "../../src/kube/namespace-cache.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { waitFor } from "../helpers/wait-for.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function aNamespace(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

async function start(): Promise<{ server: FakeApiServer; cache: NamespaceCache }> {
  const server = await FakeApiServer.start();
  cleanups.push(() => server.close());
  server.apply("namespaces", aNamespace("team-a", { tier: "sandbox" }));
  server.apply("namespaces", aNamespace("payments", { tier: "prod" }));
  const cache = createNamespaceCache({
    kubeConfig: server.kubeConfig(),
    logger: pino({ level: "silent" }),
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 0,
  });
  cleanups.push(() => cache.close());
  await cache.start();
  await waitFor("the namespace watch", () => server.liveWatches("namespaces") === 1, 3_000);
  return { server, cache };
}

const CONFIG = parseConfig(
  `
mode: enforce
# Labels may lower the mode anywhere: these tests are about reading them, not about who may.
labelsMayLowerIn: ["*"]
namespaces:
  - selector: {matchLabels: {tier: sandbox}}
    mode: monitor
  - selector: {matchExpressions: [{key: tier, operator: In, values: [staging]}]}
    mode: warn
`,
  "stsguard.yaml",
);

async function modeOf(cache: NamespaceCache, name: string): Promise<string> {
  const lookup = await cache.lookup(name);
  const labels = lookup.status === "found" ? lookup.namespace.labels : null;
  return namespaceMode(name, labels, CONFIG).mode;
}

/*
 * Listing namespaces with their labels (and the name label the API server adds), following
 * label changes and forgetting a deleted namespace are proven against a real API server in
 * test/e2e/webhook-caches.e2e.test.ts; these are the faults it cannot be made to produce.
 */
describe("namespace cache", () => {
  // Why a test API server: its watch is stalled on demand, so the namespace exists before the
  // cache hears of it.
  it("reads a namespace the watch has not delivered yet live", async () => {
    const { server, cache } = await start();
    server.stallWatches();
    server.apply("namespaces", aNamespace("brand-new", { tier: "staging" }));
    expect(await modeOf(cache, "brand-new")).toBe("warn");
    expect(server.getRequests("/api/v1/namespaces/brand-new")).toHaveLength(1);
  });

  // Why a test API server: it answers the live read with a 500 on demand.
  it("says unavailable when the live read fails, so label rules are skipped, not guessed", async () => {
    const { server, cache } = await start();
    server.failReads(500);
    const lookup = await cache.lookup("unknown");
    expect(lookup.status).toBe("unavailable");
  });

  // Why a test API server: it compacts its history and drops the watch on demand (410 Gone).
  it("survives a compacted watch (410) by listing again", async () => {
    const { server, cache } = await start();
    server.compact();
    server.dropWatches("namespaces");
    server.apply("namespaces", aNamespace("team-a", { tier: "staging" }));
    await waitFor("the relist", async () => (await modeOf(cache, "team-a")) === "warn", 5_000);
  });
});
