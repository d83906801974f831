/**
 * The cache's freshness against a real API server: a cluster where nothing changes sends no
 * watch event, and a 1.26 API server sends no bookmark for a long while either (bookmarks are
 * best effort). The cache must stay trusted all the same, answering from memory, for as long as
 * the API server keeps accepting its watches; before, it went stale after 90 s of quiet and
 * every admission request read the API server live from then on.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClusterSource, type ClusterSource } from "../../src/kube/cluster-source.js";
import { createKubeTransport, loadKubeConfig } from "../../src/kube/client.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import { repoRoot } from "./support/paths.js";

/** What the recorded difference says the replay must see (its README tells the story). */
const FIXTURE = JSON.parse(
  readFileSync(
    path.join(
      repoRoot,
      "test/fixtures/apiserver-differences/watch-no-bookmark-on-idle-resource.json",
    ),
    "utf8",
  ),
) as { readonly expect: { readonly linesWithin20Seconds: readonly string[] } };

let cluster: Cluster | undefined;
let source: ClusterSource | undefined;
const restarts: string[] = [];
const liveReads: string[] = [];

// Renewed after 2 s of silence; stale only after 4 s without an accepted watch.
const STALE_AFTER_MS = 4_000;

function statefulSet(replicas: number): object {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "web", namespace: "quiet" },
    spec: {
      replicas,
      serviceName: "web",
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "web", image: "nginx" }] },
      },
    },
  };
}

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.createNamespace("quiet");
  await cluster.apply([statefulSet(2)]);
  source = createClusterSource({
    kubeConfig: loadKubeConfig({ kubeconfigPath: cluster.kubeconfig, env: {} }),
    logger: pino({ level: "silent" }),
    staleAfterMs: STALE_AFTER_MS,
    metrics: {
      recordWatchRestart: (resource, reason) => restarts.push(`${resource} ${reason}`),
      recordRelist: () => undefined,
      recordLiveRead: (what, outcome) => liveReads.push(`${what} ${outcome}`),
    },
  });
  await source.start();
});

afterAll(async () => {
  await source?.close();
  await cluster?.stop();
});

describe("the caches on a real API server where nothing changes", () => {
  it("a watch of an idle resource carries no bookmark for 20 s (watch-no-bookmark-on-idle-resource.json)", async () => {
    const api = cluster as Cluster;
    const transport = createKubeTransport(
      loadKubeConfig({ kubeconfigPath: api.kubeconfig, env: {} }),
    );
    const rv = (await transport.getJson("/apis/apps/v1/statefulsets", { limit: "1" })).body as {
      metadata: { resourceVersion: string };
    };
    const lines: string[] = [];
    const stop = new AbortController();
    const watch = transport
      .streamLines(
        "/apis/apps/v1/statefulsets",
        {
          watch: "true",
          resourceVersion: rv.metadata.resourceVersion,
          allowWatchBookmarks: "true",
          timeoutSeconds: "450",
        },
        (line) => lines.push(line),
        { signal: stop.signal },
      )
      .catch(() => undefined);
    await sleep(20_000);
    stop.abort();
    await watch;
    expect(lines).toEqual(FIXTURE.expect.linesWithin20Seconds);
  });

  it("stays fresh and answers from memory through many quiet windows", async () => {
    const cache = source as ClusterSource;
    const until = Date.now() + 5 * STALE_AFTER_MS;
    const seen = new Set<string>();
    while (Date.now() < until) {
      const health = cache.readHealth();
      seen.add(`${health.statefulSetsFresh} ${health.servicesFresh}`);
      expect(cache.lookupCached("quiet", "web")).toMatchObject({
        status: "found",
        statefulSet: { replicas: 2 },
      });
      await sleep(100);
    }
    expect([...seen]).toEqual(["true true"]);
    expect(liveReads).toEqual([]);
    // Renewed about every half window: the API server sent nothing in each of them.
    expect(restarts.filter((r) => r === "statefulsets silent").length).toBeGreaterThanOrEqual(6);
    expect(restarts.filter((r) => !r.endsWith(" silent"))).toEqual([]);
  });

  it("sees a change made after the quiet spell through the renewed watch, not a live read", async () => {
    const cache = source as ClusterSource;
    await (cluster as Cluster).apply([statefulSet(5)]);
    const deadline = Date.now() + 10_000;
    let replicas: unknown;
    while (Date.now() < deadline) {
      const lookup = cache.lookupCached("quiet", "web");
      replicas = lookup?.status === "found" ? lookup.statefulSet.replicas : lookup?.status;
      if (replicas === 5) break;
      await sleep(50);
    }
    expect(replicas).toBe(5);
    expect(liveReads).toEqual([]);
  });
});
