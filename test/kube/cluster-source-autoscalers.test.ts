/**
 * HorizontalPodAutoscalers in the cluster source: only those of StatefulSets are kept, and a
 * StatefulSet is answered joined with the HPA that scales it, from the caches or live. The local
 * list/watch server is used for what a real API server cannot be made to do on demand: a watch
 * that lags (stalled) while the objects change, and an HPA list that fails while the StatefulSet
 * read succeeds. test/e2e/autoscale.e2e.test.ts proves the same against kube-apiserver 1.26.
 */
import { describe, expect, it } from "vitest";
import type { AutoscalerSummary, StatefulSetLookup } from "../../src/policy/index.js";
import { anHpa } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { seedDemo, startHarness, startServer, startSource, type Harness } from "./harness.js";

const webHpa: AutoscalerSummary = {
  kind: "HorizontalPodAutoscaler",
  namespace: "demo",
  name: "web",
  statefulSet: "web",
  minReplicas: 2,
  maxReplicas: 6,
  hpaName: null,
};

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

describe("cluster source: HorizontalPodAutoscalers", () => {
  it("keeps only HPAs of StatefulSets and joins them to the StatefulSet they scale", async () => {
    const h = await withHpas();
    expect(h.source.readHealth()).toMatchObject({ autoscalers: 1, autoscalersFresh: true });
    expect(h.source.lookupCached("demo", "web")).toEqual({
      status: "found",
      statefulSet: expect.objectContaining({ name: "web", replicas: 3, autoscaler: webHpa }),
    });
    // StatefulSet web in namespace other has no HPA; db has none either.
    expect(autoscalerOf(await h.source.lookup("other", "web"))).toBeNull();
    expect(autoscalerOf(await h.source.lookup("demo", "db"))).toBeNull();
    expect(await h.source.autoscalers("demo")).toEqual([webHpa]);
    expect(h.source.readSnapshot()?.statefulSets.find((s) => s.name === "web")).toMatchObject({
      namespace: "demo",
      autoscaler: webHpa,
    });
    expect(h.server.readRequests()).toEqual([]);
  });

  it("follows HPA watch events: a raised maxReplicas, then a retarget to a Deployment", async () => {
    const h = await withHpas();
    h.server.apply("horizontalpodautoscalers", anHpa({ min: 2, max: 9 }));
    await waitFor(
      "the raised maxReplicas",
      () =>
        autoscalerOf(h.source.lookupCached("demo", "web") ?? { status: "not-found" })
          ?.maxReplicas === 9,
      3_000,
    );
    h.server.apply(
      "horizontalpodautoscalers",
      anHpa({ target: { apiVersion: "apps/v1", kind: "Deployment", name: "web" } }),
    );
    await waitFor(
      "the HPA dropped from the cache",
      () => h.source.readHealth().autoscalers === 0,
      3_000,
    );
    expect(autoscalerOf(await h.source.lookup("demo", "web"))).toBeNull();
  });

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
