/**
 * HorizontalPodAutoscalers in the cluster source, for what a real API server cannot be made to do
 * on demand. Why a test API server: a watch that lags (stalled) while an HPA changes, so the cache
 * and a live list disagree; and an HPA list that fails while the StatefulSet read succeeds. The
 * normal behaviour — only HPAs of StatefulSets kept, each joined to the StatefulSet it scales,
 * read live, followed by watch events — is proven against kube-apiserver 1.26 in
 * test/e2e/webhook-caches.e2e.test.ts, and the webhook on it in test/e2e/autoscale.e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { AutoscalerSummary, StatefulSetLookup } from "../../src/policy/index.js";
import { anHpa } from "../helpers/objects.js";
import { seedDemo, startHarness, startServer, startSource, type Harness } from "./harness.js";

function autoscalerOf(lookup: StatefulSetLookup): AutoscalerSummary | null | undefined {
  return lookup.status === "found" ? (lookup.statefulSet.autoscaler ?? null) : undefined;
}

async function withHpas(): Promise<Harness> {
  const server = await startServer((s) => {
    seedDemo(s);
    s.apply("horizontalpodautoscalers", anHpa({ min: 2, max: 6 }));
    s.apply(
      "horizontalpodautoscalers",
      anHpa({ name: "api", target: { apiVersion: "apps/v1", kind: "Deployment", name: "api" } }),
    );
  });
  return startSource(server);
}

describe("cluster source: HorizontalPodAutoscalers, when the watch lags or the list fails", () => {
  it("reads the HPAs live with the StatefulSet, and live alone when only their cache lags", async () => {
    const h = await withHpas();
    // The watch stalls (still within the freshness window) while maxReplicas is raised.
    h.server.stallWatches();
    h.server.apply("horizontalpodautoscalers", anHpa({ min: 2, max: 8 }));
    expect(autoscalerOf(await h.source.lookup("demo", "web"))?.maxReplicas).toBe(6);
    expect(autoscalerOf(await h.source.lookupLive("demo", "web"))?.maxReplicas).toBe(8);
    expect((await h.source.autoscalersLive("demo")).map((a) => a.maxReplicas)).toEqual([8]);
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      "/apis/apps/v1/namespaces/demo/statefulsets/web",
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
    expect(h.metrics.calls).toContain("live-read autoscalers listed");
  });

  it("answers a StatefulSet whose HPAs cannot be listed as unavailable, naming them", async () => {
    const h = await startHarness();
    // As on a cluster that does not serve autoscaling/v2 (before 1.23).
    h.server.stopServing("horizontalpodautoscalers");
    const lookup = await h.source.lookupLive("demo", "web");
    expect(lookup.status).toBe("unavailable");
    expect(lookup.status === "unavailable" && lookup.reason).toMatch(
      /^cannot list HorizontalPodAutoscalers in namespace demo: the API server answered HTTP 404/,
    );
    // A StatefulSet that does not exist needs no HPA to say so.
    expect(await h.source.lookupLive("demo", "nope")).toEqual({ status: "not-found" });
    await expect(h.source.autoscalersLive("demo")).rejects.toThrow(
      /HorizontalPodAutoscalers in namespace demo/,
    );
    expect(h.metrics.calls).toContain("live-read autoscalers unavailable");
  });
});
