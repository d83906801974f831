// `replicas: 1000000` on an annotated StatefulSet must cost the controller a comparison, not a
// million desired Services (issue 20: 300,000 already ran the chart's heap cap out).
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/config.js";
import { DEFAULT_CONTROLLER_LIMITS } from "../../src/config/controller.js";
import { buildDesiredServices } from "../../src/controller/desired-services.js";
import { planReconcile } from "../../src/controller/plan.js";

const huge = {
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: {
    name: "kafka",
    namespace: "streaming",
    uid: "sts-uid",
    annotations: { "stsguard.io/expose": "LoadBalancer" },
  },
  spec: {
    replicas: 1_000_000,
    serviceName: "kafka",
    selector: { matchLabels: { app: "kafka" } },
    template: {
      metadata: { labels: { app: "kafka" } },
      spec: { containers: [{ name: "broker", ports: [{ name: "kafka", containerPort: 9092 }] }] },
    },
  },
};

describe("a StatefulSet asking for a million Services", () => {
  it("is refused before any Service is built: the heap does not grow with replicas", () => {
    const scope = { limits: DEFAULT_CONTROLLER_LIMITS, namespaceLabels: null };
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    const desired = buildDesiredServices(huge, defaultConfig.policy, scope);
    const actions = planReconcile("kafka", huge, [], defaultConfig.policy, scope);
    const grown = process.memoryUsage().heapUsed - before;
    expect(desired).toEqual({
      kind: "not-allowed",
      problems: [
        "1000000 replicas would need 1000000 Services; at most 64 per StatefulSet (controller.maxServicesPerStatefulSet)",
      ],
    });
    expect(actions).toEqual([
      { kind: "not-allowed", problems: desired.kind === "not-allowed" ? desired.problems : [] },
    ]);
    // A million Services would be hundreds of MiB and seconds; the refusal is neither.
    expect(grown).toBeLessThan(2 * 1024 * 1024);
    expect(performance.now() - started).toBeLessThan(200);
  });
});
