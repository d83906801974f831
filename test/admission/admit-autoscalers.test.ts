/**
 * Admission with autoscaled StatefulSets: Service writes, StatefulSet writes and scales are
 * judged with the ordinals the StatefulSet may have, widened by its HorizontalPodAutoscaler;
 * who scales makes no difference; a denial that rests on cached HPAs is confirmed live.
 */
import { describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import type { AdmissionRequest } from "../../src/admission/types.js";
import { LookupError } from "../../src/errors.js";
import {
  summarizeAutoscaler,
  type AutoscalerSummary,
  type PerPodServiceSummary,
} from "../../src/policy/index.js";
import { createStaticSource, type StatefulSetSource } from "../../src/statefulsets/source.js";
import { aService, aStatefulSet, anHpa } from "../helpers/objects.js";
import { startServer, startSource } from "../kube/harness.js";
import {
  aRequest,
  configFor,
  governingService,
  perPodService,
  summarize,
} from "./admission-inputs.js";

const config = configFor("1.30");
const strict = configFor("1.30", {
  policy: { severities: { ...config.policy.severities, "orphaned-service": "error" } },
});

function autoscaler(obj: unknown): AutoscalerSummary {
  const summary = summarizeAutoscaler(obj, "demo");
  if (!summary) throw new Error("not an autoscaler of a StatefulSet");
  return summary;
}

/** `web` in demo: 3 replicas, an HPA 3–5, and per-pod Services for `pods`. */
function autoscaledSource(pods: readonly string[], replicas = 3): StatefulSetSource {
  return createStaticSource(
    [summarize(aStatefulSet({ replicas }))],
    pods.map((pod) => perPodService(`${pod}-lb`, pod)),
    [governingService("web")],
    [autoscaler(anHpa({ min: 3, max: 5 }))],
  );
}

function scaleOf(replicas: number, oldReplicas: number, username = "admin"): AdmissionRequest {
  const scale = (count: number) => ({
    apiVersion: "autoscaling/v1",
    kind: "Scale",
    metadata: { name: "web", namespace: "demo" },
    // ScaleSpec.replicas is omitempty: a scale to zero arrives without it.
    spec: count === 0 ? {} : { replicas: count },
  });
  const request = aRequest({
    operation: "UPDATE",
    kind: { group: "autoscaling", version: "v1", kind: "Scale" },
    resource: { group: "apps", version: "v1", resource: "statefulsets" },
    subResource: "scale",
    name: "web",
    object: scale(replicas),
    oldObject: scale(oldReplicas),
  });
  return { ...request, userInfo: { ...request.userInfo, username } };
}

const STATEFULSET = {
  kind: { group: "apps", version: "v1", kind: "StatefulSet" },
  resource: { group: "apps", version: "v1", resource: "statefulsets" },
};

describe("admit: Services of an autoscaled StatefulSet", () => {
  it("admits a Service for every ordinal below maxReplicas, with no warning", async () => {
    const source = autoscaledSource([]);
    for (const podName of ["web-0", "web-3", "web-4"]) {
      const result = await admit(aRequest({ object: aService({ podName }) }), "validate", {
        source,
        config,
      });
      expect(result).toMatchObject({ allowed: true, warnings: [], findings: [] });
    }
  });

  it("denies one beyond maxReplicas, naming the HPA", async () => {
    const result = await admit(aRequest({ object: aService({ podName: "web-5" }) }), "validate", {
      source: autoscaledSource([]),
      config,
    });
    expect(result.allowed).toBe(false);
    expect(result.status?.message).toBe(
      "ordinal-out-of-range: Service demo/web-5 selects pod web-5, but StatefulSet web has up to " +
        "5 replicas (ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler web; raise " +
        "maxReplicas of HorizontalPodAutoscaler web or select an ordinal in that range",
    );
  });
});

describe("admit: scales of an autoscaled StatefulSet (orphaned-service)", () => {
  const pods = ["web-0", "web-1", "web-2", "web-3", "web-4"];

  it.each([
    {
      name: "the HPA controller (system:kube-controller-manager)",
      user: "system:kube-controller-manager",
    },
    {
      name: "the HPA controller's own ServiceAccount",
      user: "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    },
    { name: "a person (kubectl scale)", user: "jane@example.com" },
  ])("a scale in from 5 to 3 by $name orphans nothing the HPA may reach", async ({ user }) => {
    const result = await admit(scaleOf(3, 5, user), "validate", {
      source: autoscaledSource(pods, 5),
      config: strict,
    });
    expect(result).toMatchObject({ allowed: true, warnings: [], findings: [] });
  });

  it("a scale below minReplicas orphans nothing either: the HPA scales back up", async () => {
    const result = await admit(scaleOf(1, 3), "validate", {
      source: autoscaledSource(pods),
      config,
    });
    expect(result).toMatchObject({ allowed: true, warnings: [], findings: [] });
  });

  it("a scale to 0 stops the HPA: every per-pod Service is orphaned", async () => {
    const result = await admit(scaleOf(0, 3), "validate", {
      source: autoscaledSource(["web-0", "web-4"]),
      config,
    });
    expect(result.allowed).toBe(true);
    expect(result.warnings).toEqual([
      "orphaned-service: StatefulSet demo/web will have 0 replicas (no pods; autoscaling is off " +
        "at 0), so Service web-0-lb selects pod web-0, which will not exist; delete that Service " +
        "or keep enough replicas",
      "orphaned-service: StatefulSet demo/web will have 0 replicas (no pods; autoscaling is off " +
        "at 0), so Service web-4-lb selects pod web-4, which will not exist; delete that Service " +
        "or keep enough replicas",
    ]);
  });
});

describe("admit: StatefulSet writes beside an HPA", () => {
  it("a create without spec.replicas after its Services and HPA (Helm's order) orphans nothing", async () => {
    const source = createStaticSource(
      [],
      ["web-0", "web-1", "web-2"].map((pod) => perPodService(`${pod}-lb`, pod)),
      [governingService("web")],
      [autoscaler(anHpa({ min: 3, max: 5 }))],
    );
    const request = aRequest({ ...STATEFULSET, object: aStatefulSet({ noReplicas: true }) });
    const result = await admit(request, "validate", { source, config });
    expect(result).toMatchObject({ allowed: true, warnings: [], findings: [] });
  });

  it("without the HPA the same create warns, saying where its one replica came from", async () => {
    const source = createStaticSource(
      [],
      [perPodService("web-1-lb", "web-1")],
      [governingService("web")],
    );
    const request = aRequest({ ...STATEFULSET, object: aStatefulSet({ noReplicas: true }) });
    const result = await admit(request, "validate", { source, config });
    expect(result.warnings).toEqual([
      "orphaned-service: StatefulSet demo/web will have 1 replica (ordinal 0), replicas unset " +
        "(defaults to 1), so Service web-1-lb selects pod web-1, which will not exist; delete " +
        "that Service or set spec.replicas",
    ]);
  });

  it("says which read failed when the HPAs cannot be read", async () => {
    const failing: StatefulSetSource = {
      ...autoscaledSource(["web-4"]),
      autoscalers: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    };
    const request = aRequest({
      ...STATEFULSET,
      operation: "UPDATE",
      object: aStatefulSet({ replicas: 3 }),
      oldObject: aStatefulSet({ replicas: 5 }),
    });
    const result = await admit(request, "validate", { source: failing, config });
    expect(result.allowed).toBe(true);
    expect(result.warnings).toEqual([
      "lookup-failure: orphaned per-pod Services not checked, the autoscalers in namespace demo " +
        "could not be read: connect ECONNREFUSED 10.96.0.1:443",
    ]);
  });
});

describe("admit: a denial that rests on cached HPAs is confirmed live", () => {
  /**
   * The local list/watch server lets the HPA watch lag on demand (stalled, yet within the
   * freshness window) while the HPA's maxReplicas is raised: a real API server cannot be made to.
   */
  async function laggingCache(services: readonly PerPodServiceSummary[] = [], replicas = 6) {
    const server = await startServer((s) => {
      s.apply("statefulsets", aStatefulSet({ replicas }));
      s.apply("horizontalpodautoscalers", anHpa({ min: 3, max: 6 }));
      for (const service of services) {
        s.apply("services", aService({ podName: `web-${service.target.ordinal}` }));
      }
    });
    const h = await startSource(server);
    server.stallWatches();
    server.apply("horizontalpodautoscalers", anHpa({ min: 3, max: 8 }));
    return h;
  }

  it("admits a Service the cached HPA would deny, after reading the HPAs live", async () => {
    const h = await laggingCache();
    const request = aRequest({ object: aService({ podName: "web-7" }) });
    const result = await admit(request, "validate", { source: h.source, config });
    expect(result).toMatchObject({ allowed: true, findings: [] });
    expect(h.server.readRequests().map((r) => r.path)).toContain(
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    );
  });

  it("allows a scale that orphaned-service (an error) would deny on the cached HPA", async () => {
    // At 8 replicas (above maxReplicas, until the HPA scales in) web-7 has its pod.
    const h = await laggingCache([perPodService("web-7", "web-7")], 8);
    const result = await admit(scaleOf(3, 8), "validate", { source: h.source, config: strict });
    expect(result).toMatchObject({ allowed: true, warnings: [], findings: [] });
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
  });

  it("confirms a warning too: Helm creates the HPA just before the StatefulSet", async () => {
    const server = await startServer((s) => {
      s.apply("services", aService({ name: "web", selector: { app: "web" }, clusterIP: "None" }));
      for (const ordinal of [0, 1, 2]) {
        s.apply("services", aService({ podName: `web-${ordinal}` }));
      }
    });
    const h = await startSource(server);
    server.stallWatches();
    server.apply("horizontalpodautoscalers", anHpa({ min: 3, max: 5 }));
    const request = aRequest({ ...STATEFULSET, object: aStatefulSet({ noReplicas: true }) });
    const result = await admit(request, "validate", { source: h.source, config });
    expect(result).toMatchObject({ allowed: true, warnings: [], findings: [] });
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
  });

  it("still denies what the live HPAs do not cover", async () => {
    const h = await laggingCache([perPodService("web-8", "web-8")], 9);
    const result = await admit(scaleOf(3, 9), "validate", { source: h.source, config: strict });
    expect(result.allowed).toBe(false);
    expect(result.status?.message).toBe(
      "orphaned-service: StatefulSet demo/web will have up to 8 replicas (ordinals 0-7), " +
        "autoscaled 3–8 by HorizontalPodAutoscaler web, so Service web-8 selects pod web-8, which " +
        "will not exist; delete that Service or raise maxReplicas",
    );
  });
});
