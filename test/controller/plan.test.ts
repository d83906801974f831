import { DEFAULT_CONTROLLER_LIMITS, type ControllerLimits } from "../../src/config/controller.js";
import type { ControllerScope } from "../../src/controller/desired-services.js";
import { describe, expect, it } from "vitest";
import { defaultConfig, withKubeVersion } from "../../src/config/config.js";
import { buildDesiredServices } from "../../src/controller/desired-services.js";
import { planReconcile, type ObservedService } from "../../src/controller/plan.js";
import {
  evaluateService,
  summarizeAutoscaler,
  summarizeStatefulSet,
  type AutoscalerSummary,
  type PolicyConfig,
} from "../../src/policy/index.js";
import { kafka } from "./harness.js";

type JsonObject = Record<string, unknown>;

function withUid(sts: JsonObject, uid = "sts-uid"): JsonObject {
  return { ...sts, metadata: { ...(sts["metadata"] as JsonObject), uid } };
}

const policies: { name: string; policy: PolicyConfig }[] = [
  { name: "defaults", policy: defaultConfig.policy },
  {
    name: "a prefix and extra labels, fixed and copied",
    policy: {
      ...defaultConfig.policy,
      labelPrefix: "example.com",
      extraLabels: [
        { key: "team", fromStatefulSetLabel: "team" },
        { key: "tier", value: "edge" },
        { key: "app.kubernetes.io/managed-by", value: "someone-else" },
      ],
    },
  },
  {
    name: "Kubernetes 1.24",
    policy: withKubeVersion(defaultConfig, { major: 1, minor: 24 }).policy,
  },
];

const statefulSets: { name: string; sts: JsonObject }[] = [
  { name: "LoadBalancer, 3 brokers", sts: kafka({ replicas: 3 }) },
  {
    name: "NodePort from ordinal 5",
    sts: kafka({
      replicas: 2,
      start: 5,
      annotations: { "stsguard.io/expose": "NodePort", "example.com/expose": "NodePort" },
    }),
  },
  { name: "a name ending in digits", sts: kafka({ name: "redis-2", replicas: 2 }) },
];

describe("the Services the controller writes pass admission by construction", () => {
  for (const { name: policyName, policy } of policies) {
    it.each(statefulSets)(`$name (${policyName})`, ({ sts }) => {
      const annotations = (sts["metadata"] as JsonObject)["annotations"] as JsonObject;
      const prefixed = {
        ...sts,
        metadata: {
          ...(sts["metadata"] as JsonObject),
          uid: "sts-uid",
          annotations: {
            ...annotations,
            [`${policy.labelPrefix}/expose`]: annotations["stsguard.io/expose"],
          },
        },
      };
      const desired = buildDesiredServices(prefixed, policy, SCOPE);
      if (desired.kind !== "services") throw new Error(`expected Services, got ${desired.kind}`);
      const summary = summarizeStatefulSet(prefixed, "streaming");
      if (!summary) throw new Error("no summary");
      expect(desired.services).toHaveLength(summary.replicas);
      for (const service of desired.services) {
        const verdict = evaluateService(
          service,
          { operation: "CREATE", lookup: { status: "found", statefulSet: summary } },
          policy,
        );
        expect(verdict.findings).toEqual([]);
        expect(verdict.fixed).toEqual(service);
      }
    });
  }
});

const SCOPE: ControllerScope = {
  limits: { ...DEFAULT_CONTROLLER_LIMITS, serviceAnnotations: ["*"] },
  namespaceLabels: null,
};

function observed(name: string, changes: Partial<ObservedService> = {}): ObservedService {
  return {
    namespace: "streaming",
    name,
    uid: `uid-${name}`,
    resourceVersion: "1",
    deleting: false,
    controllerOwner: { apiVersion: "apps/v1", kind: "StatefulSet", name: "kafka", uid: "sts-uid" },
    managed: true,
    updateEntry: false,
    target: { statefulSet: "kafka", ordinal: Number(name.split("-").pop()) },
    ...changes,
  };
}

function summarize(actions: ReturnType<typeof planReconcile>, withWhy = false): string[] {
  return actions.map((a) => {
    switch (a.kind) {
      case "apply":
        return `apply ${String((a.service["metadata"] as JsonObject)["name"])}${a.existing ? "" : " (create)"}`;
      case "delete":
        return `delete ${a.service.name} (${a.reason}${withWhy ? `: ${a.why}` : ""})`;
      case "not-owned":
        return `not-owned ${a.service.name}`;
      case "invalid":
        return `invalid`;
      case "not-allowed":
      case "not-approved":
        return `${a.kind}: ${a.problems.join("; ")}`;
    }
  });
}

const planCases: {
  name: string;
  sts: JsonObject | undefined;
  services: ObservedService[];
  want: string[];
}[] = [
  {
    name: "creates what is missing and updates what is there",
    sts: withUid(kafka({ replicas: 2 })),
    services: [observed("kafka-0")],
    want: ["apply kafka-0", "apply kafka-1 (create)"],
  },
  {
    name: "deletes its own Services past the range",
    sts: withUid(kafka({ replicas: 1 })),
    services: [observed("kafka-0"), observed("kafka-1")],
    want: ["apply kafka-0", "delete kafka-1 (scaled-down)"],
  },
  {
    name: "never deletes a Service without the managed-by label, even owned by the StatefulSet",
    sts: withUid(kafka({ replicas: 1 })),
    services: [observed("kafka-0"), observed("kafka-1", { managed: false })],
    want: ["apply kafka-0"],
  },
  {
    name: "never writes a hand-made Service of a wanted name",
    sts: withUid(kafka({ replicas: 2 })),
    services: [observed("kafka-0"), observed("kafka-1", { managed: false, controllerOwner: null })],
    want: ["apply kafka-0", "not-owned kafka-1"],
  },
  {
    name: "a Service owned by another controller is not its own either",
    sts: withUid(kafka({ replicas: 1 })),
    services: [
      observed("kafka-0", {
        controllerOwner: { apiVersion: "v1", kind: "ConfigMap", name: "x", uid: "x" },
      }),
    ],
    want: ["not-owned kafka-0"],
  },
  {
    name: "waits while a Service is being deleted",
    sts: withUid(kafka({ replicas: 2 })),
    services: [observed("kafka-0", { deleting: true }), observed("kafka-1")],
    want: ["apply kafka-1"],
  },
  {
    name: "deletes what it made for an earlier StatefulSet of the same name before creating anew",
    sts: withUid(kafka({ replicas: 1 }), "new-uid"),
    services: [observed("kafka-0"), observed("kafka-1")],
    want: ["delete kafka-0 (statefulset-replaced)", "delete kafka-1 (statefulset-replaced)"],
  },
  {
    name: "deletes everything of its own once the StatefulSet is gone",
    sts: undefined,
    services: [observed("kafka-0"), observed("kafka-1", { managed: false })],
    want: ["delete kafka-0 (statefulset-replaced)"],
  },
  {
    name: "not exposed: deletes its own",
    sts: withUid(kafka({ replicas: 1, annotations: {} })),
    services: [observed("kafka-0")],
    want: ["delete kafka-0 (not-exposed)"],
  },
  {
    name: "bad annotations: nothing but the report",
    sts: withUid(kafka({ replicas: 1, annotations: { "stsguard.io/expose": "Headless" } })),
    services: [observed("kafka-0"), observed("kafka-5")],
    want: ["invalid"],
  },
];

describe("planReconcile", () => {
  it.each(planCases)("$name", ({ sts, services, want }) => {
    expect(summarize(planReconcile("kafka", sts, services, defaultConfig.policy, SCOPE))).toEqual(
      want,
    );
  });
});

describe("the configuration's controller limits", () => {
  const plan = (sts: JsonObject, limits: Partial<ControllerLimits>, labels = null): string[] =>
    summarize(
      planReconcile("kafka", sts, [observed("kafka-0")], defaultConfig.policy, {
        limits: { ...DEFAULT_CONTROLLER_LIMITS, ...limits },
        namespaceLabels: labels,
      }),
    );

  it("refuses more Services than maxServicesPerStatefulSet and keeps what exists", () => {
    expect(plan(withUid(kafka({ replicas: 65 })), {})).toEqual([
      "not-allowed: 65 replicas would need 65 Services; at most 64 per StatefulSet (controller.maxServicesPerStatefulSet)",
    ]);
    expect(plan(withUid(kafka({ replicas: 3 })), { maxServicesPerStatefulSet: 2 })).toEqual([
      "not-allowed: 3 replicas would need 3 Services; at most 2 per StatefulSet (controller.maxServicesPerStatefulSet)",
    ]);
  });

  it("refuses namespaces, types and copied annotation keys the configuration does not allow", () => {
    const sts = withUid(
      kafka({
        replicas: 1,
        annotations: {
          "stsguard.io/expose": "LoadBalancer",
          "stsguard.io/expose-service-annotations":
            "service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing\nexample.com/a: b",
        },
      }),
    );
    expect(
      plan(sts, {
        namespaces: ["team-*"],
        serviceTypes: ["NodePort"],
        serviceAnnotations: ["example.com/*"],
      }),
    ).toEqual([
      "not-allowed: namespace streaming is not one the controller may write in (controller.namespaces); " +
        "Service type LoadBalancer is not allowed (controller.serviceTypes: NodePort); " +
        "annotation service.beta.kubernetes.io/aws-load-balancer-scheme may not be copied onto Services (controller.serviceAnnotations allows example.com/*)",
    ]);
    expect(plan(sts, { serviceAnnotations: ["*"], namespaceSelector: sel })).toEqual([
      "not-allowed: namespace streaming does not match controller.namespaceSelector (its labels could not be read)",
    ]);
  });

  it("exposes only ports the pod template declares", () => {
    const sts = withUid(
      kafka({
        replicas: 1,
        annotations: {
          "stsguard.io/expose": "LoadBalancer",
          "stsguard.io/expose-ports": "9092,22",
        },
      }),
    );
    expect(plan(sts, {})).toEqual(["invalid"]);
    const desired = buildDesiredServices(sts, defaultConfig.policy, SCOPE);
    expect(desired).toEqual({
      kind: "invalid",
      problems: [
        "annotation stsguard.io/expose-ports: port 22 is not a container port of the pod template (only declared ports may be exposed)",
      ],
    });
  });
});

const sel = { matchLabels: { exposure: "allowed" }, matchExpressions: [] };

/** An autoscaling/v2 HorizontalPodAutoscaler, raw, as the API server lists it. */
function hpa(
  options: {
    name?: string;
    namespace?: string;
    target?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
  } = {},
): JsonObject {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: options.name ?? "kafka", namespace: options.namespace ?? "streaming" },
    spec: {
      scaleTargetRef: options.target ?? {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: "kafka",
      },
      minReplicas: options.minReplicas ?? 2,
      maxReplicas: options.maxReplicas ?? 4,
    },
  };
}

/** What the controller's HPA cache keeps of them (AUTOSCALER_CACHE's summarize drops the rest). */
function cached(...hpas: JsonObject[]): AutoscalerSummary[] {
  return hpas.flatMap((raw) => {
    const summary = summarizeAutoscaler(raw, "streaming");
    return summary ? [summary] : [];
  });
}

const OWNER = { apiVersion: "apps/v1", kind: "StatefulSet", name: "kafka", uid: "sts-uid" };
const PLAIN = "its pod's ordinal is no longer in the StatefulSet's ordinal range";
const ours = (...ordinals: number[]): ObservedService[] =>
  ordinals.map((ordinal) => observed(`kafka-${ordinal}`));

const autoscaledCases: {
  name: string;
  sts: JsonObject;
  services: ObservedService[];
  autoscalers: AutoscalerSummary[];
  want: string[];
}[] = [
  {
    name: "keeps (and updates) the Services of pods the HPA scaled in, below maxReplicas",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0, 1, 2, 3),
    autoscalers: cached(hpa()),
    want: ["apply kafka-0", "apply kafka-1", "apply kafka-2", "apply kafka-3"],
  },
  {
    name: "creates Services only for pods that exist, not for every ordinal the HPA may reach",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0),
    autoscalers: cached(hpa()),
    want: ["apply kafka-0", "apply kafka-1 (create)"],
  },
  {
    name: "maxReplicas lowered: deletes the Services it no longer covers, naming it",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0, 1, 2, 3),
    autoscalers: cached(hpa({ maxReplicas: 3 })),
    want: [
      "apply kafka-0",
      "apply kafka-1",
      "apply kafka-2",
      "delete kafka-3 (scaled-down: its pod's ordinal is no longer covered by HorizontalPodAutoscaler kafka (maxReplicas 3: ordinals 0-2))",
    ],
  },
  {
    name: "HPA deleted: deletes the Services beyond the pods, as without one",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0, 1, 2, 3),
    autoscalers: [],
    want: [
      "apply kafka-0",
      "apply kafka-1",
      `delete kafka-2 (scaled-down: ${PLAIN})`,
      `delete kafka-3 (scaled-down: ${PLAIN})`,
    ],
  },
  {
    name: "an HPA of a Deployment of the same name does not count",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0, 1, 2),
    autoscalers: cached(
      hpa({ target: { apiVersion: "apps/v1", kind: "Deployment", name: "kafka" } }),
    ),
    want: ["apply kafka-0", "apply kafka-1", `delete kafka-2 (scaled-down: ${PLAIN})`],
  },
  {
    name: "an HPA retargeted to another StatefulSet does not count",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0, 1, 2),
    autoscalers: cached(
      hpa({ target: { apiVersion: "apps/v1", kind: "StatefulSet", name: "zookeeper" } }),
    ),
    want: ["apply kafka-0", "apply kafka-1", `delete kafka-2 (scaled-down: ${PLAIN})`],
  },
  {
    name: "an HPA of a StatefulSet of the same name in another namespace does not count",
    sts: withUid(kafka({ replicas: 2 })),
    services: ours(0, 1, 2),
    autoscalers: cached(hpa({ namespace: "other" })),
    want: ["apply kafka-0", "apply kafka-1", `delete kafka-2 (scaled-down: ${PLAIN})`],
  },
  {
    name: "0 replicas: the HPA does not scale from 0, so every Service goes, saying why",
    sts: withUid(kafka({ replicas: 0 })),
    services: ours(0, 1),
    autoscalers: cached(hpa()),
    want: [0, 1].map(
      (ordinal) =>
        `delete kafka-${ordinal} (scaled-down: ${PLAIN}: it has 0 replicas, and HorizontalPodAutoscaler kafka does not scale a StatefulSet up from 0)`,
    ),
  },
  {
    name: "ordinals.start: the HPA covers [start, start + maxReplicas)",
    sts: withUid(kafka({ replicas: 2, start: 5 })),
    services: ours(3, 5, 6, 7, 8, 9),
    autoscalers: cached(hpa()),
    want: [
      "apply kafka-5",
      "apply kafka-6",
      "apply kafka-7",
      "apply kafka-8",
      `delete kafka-3 (scaled-down: its pod's ordinal is no longer covered by HorizontalPodAutoscaler kafka (maxReplicas 4: ordinals 5-8))`,
      `delete kafka-9 (scaled-down: its pod's ordinal is no longer covered by HorizontalPodAutoscaler kafka (maxReplicas 4: ordinals 5-8))`,
    ],
  },
  {
    name: "replicas above maxReplicas (scaled by hand): the pods count, the rest goes",
    sts: withUid(kafka({ replicas: 5 })),
    services: ours(0, 1, 2, 3, 4, 5),
    autoscalers: cached(hpa()),
    want: [
      "apply kafka-0",
      "apply kafka-1",
      "apply kafka-2",
      "apply kafka-3",
      "apply kafka-4",
      "delete kafka-5 (scaled-down: its pod's ordinal is beyond the StatefulSet's 5 replicas (ordinals 0-4) and maxReplicas 4 of HorizontalPodAutoscaler kafka)",
    ],
  },
  {
    name: "several HPAs: the highest maxReplicas counts",
    sts: withUid(kafka({ replicas: 1 })),
    services: ours(0, 1, 2, 3, 4),
    autoscalers: cached(hpa({ name: "a", maxReplicas: 2 }), hpa({ name: "b", maxReplicas: 4 })),
    want: [
      "apply kafka-0",
      "apply kafka-1",
      "apply kafka-2",
      "apply kafka-3",
      "delete kafka-4 (scaled-down: its pod's ordinal is no longer covered by HorizontalPodAutoscaler b (maxReplicas 4: ordinals 0-3))",
    ],
  },
  {
    name: "a kept Service being deleted is left to finish",
    sts: withUid(kafka({ replicas: 2 })),
    services: [...ours(0, 1, 2), observed("kafka-3", { deleting: true })],
    autoscalers: cached(hpa()),
    want: ["apply kafka-0", "apply kafka-1", "apply kafka-2"],
  },
  {
    name: "only a Service named for the pod it selects is kept",
    sts: withUid(kafka({ replicas: 2 })),
    services: [
      ...ours(0, 1),
      observed("kafka-2", { target: { statefulSet: "kafka", ordinal: 3 } }),
    ],
    autoscalers: cached(hpa()),
    want: ["apply kafka-0", "apply kafka-1", `delete kafka-2 (scaled-down: ${PLAIN})`],
  },
  {
    name: "a Service of a former StatefulSet of the same name is not kept",
    sts: withUid(kafka({ replicas: 1 })),
    services: [...ours(0), observed("kafka-1", { controllerOwner: { ...OWNER, uid: "old-uid" } })],
    autoscalers: cached(hpa()),
    want: [
      "delete kafka-1 (statefulset-replaced: it belonged to an earlier StatefulSet of the same name)",
      "apply kafka-0",
    ],
  },
  {
    name: "expose annotation removed: every Service goes, the kept ones too",
    sts: withUid(kafka({ replicas: 1, annotations: {} })),
    services: ours(0, 1),
    autoscalers: cached(hpa()),
    want: [0, 1].map(
      (ordinal) =>
        `delete kafka-${ordinal} (not-exposed: the StatefulSet no longer asks for per-pod Services (expose annotation removed))`,
    ),
  },
  {
    name: "limits exceeded: nothing written or deleted, kept Services included",
    sts: withUid(kafka({ replicas: 65 })),
    services: ours(0, 65, 66),
    autoscalers: cached(hpa({ maxReplicas: 70 })),
    want: [
      "not-allowed: 65 replicas would need 65 Services; at most 64 per StatefulSet (controller.maxServicesPerStatefulSet)",
    ],
  },
];

describe("planReconcile with a HorizontalPodAutoscaler", () => {
  it.each(autoscaledCases)("$name", ({ sts, services, autoscalers, want }) => {
    const plan = planReconcile("kafka", sts, services, defaultConfig.policy, {
      ...SCOPE,
      autoscalers,
    });
    expect(summarize(plan, true)).toEqual(want);
  });

  it("brings a kept Service up to the annotations, as it would a pod's", () => {
    const sts = withUid(
      kafka({
        replicas: 1,
        annotations: { "stsguard.io/expose": "NodePort", "stsguard.io/expose-ports": "metrics" },
      }),
    );
    const plan = planReconcile("kafka", sts, ours(0, 3), defaultConfig.policy, {
      ...SCOPE,
      autoscalers: cached(hpa()),
    });
    const kept = plan.find(
      (a) => a.kind === "apply" && (a.service["metadata"] as JsonObject)["name"] === "kafka-3",
    );
    // Exactly what the controller writes for pod kafka-3 once it exists.
    const scaledOut = buildDesiredServices(
      { ...sts, spec: { ...(sts["spec"] as JsonObject), replicas: 4 } },
      defaultConfig.policy,
      SCOPE,
    );
    if (scaledOut.kind !== "services") throw new Error(`expected Services, got ${scaledOut.kind}`);
    expect(kept).toEqual({ kind: "apply", service: scaledOut.services[3], existing: ours(3)[0] });
    expect((kept?.kind === "apply" && kept.service["spec"]) || null).toMatchObject({
      type: "NodePort",
      ports: [{ name: "metrics", port: 9404 }],
    });
  });
});
