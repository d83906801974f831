/**
 * A `statefulsets/scale` means the StatefulSet exists. When the cache has not seen it yet (its
 * watch event is still on the way), the StatefulSet is read live, so the scale is checked
 * against its real ordinal range instead of being waved through as "not found".
 *
 * Why a test API server: its watches are stalled on demand, so the cache lags the API server by
 * exactly one event. A scale answered from a cache that has the StatefulSet (no live read of it;
 * only the HPAs, to confirm an orphaned-service warning), and `kubectl scale` through the real
 * API server, are proven in test/e2e/webhook-caches.e2e.test.ts and
 * test/e2e/webhook-statefulsets.e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { startServer, startSource } from "../kube/harness.js";
import { aRequest, configFor } from "./admission-inputs.js";

const config = configFor("1.30");

function scaleOf(name: string, replicas: number, oldReplicas: number) {
  const scale = (count: number) => ({
    apiVersion: "autoscaling/v1",
    kind: "Scale",
    metadata: { name, namespace: "demo" },
    spec: { replicas: count },
  });
  return aRequest({
    operation: "UPDATE",
    kind: { group: "autoscaling", version: "v1", kind: "Scale" },
    resource: { group: "apps", version: "v1", resource: "statefulsets" },
    subResource: "scale",
    name,
    object: scale(replicas),
    oldObject: scale(oldReplicas),
  });
}

describe("statefulsets/scale of a StatefulSet the cache has not seen", () => {
  it("reads it live and checks the scale against its ordinal range", async () => {
    const server = await startServer((s) => {
      // Per-pod Services of pods api-5 and api-6, already in the cache.
      s.apply("services", aService({ podName: "api-5" }));
      s.apply("services", aService({ podName: "api-6" }));
    });
    const h = await startSource(server);
    // The watches go quiet (still fresh: within staleAfterMs), then api appears: the cache
    // lags the API server by exactly this event.
    server.stallWatches();
    server.apply(
      "statefulsets",
      aStatefulSet({ name: "api", replicas: 2, ordinals: { start: 5 } }),
    );
    expect(await h.source.lookup("demo", "api")).toEqual({ status: "not-found" });

    const result = await admit(scaleOf("api", 1, 2), "validate", { source: h.source, config });

    const gets = server.readRequests().map((r) => r.path);
    // The live read joins the HPAs of the namespace; the orphan warning is confirmed with a
    // live list of them too (an HPA created a moment ago would keep api-6 in range).
    expect(gets).toEqual([
      "/apis/apps/v1/namespaces/demo/statefulsets/api",
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
    expect(h.metrics.calls).toContain("live-read statefulset found");
    // The live StatefulSet starts at ordinal 5: a scale to 1 keeps api-5 and orphans api-6.
    expect(result.allowed).toBe(true);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^orphaned-service: StatefulSet demo\/api .* api-6/);
  });
});
