import { DEFAULT_CONTROLLER_LIMITS, type ControllerLimits } from "../../src/config/controller.js";
import type { ControllerScope } from "../../src/controller/desired-services.js";
import { describe, expect, it } from "vitest";
import { defaultConfig, withKubeVersion } from "../../src/config/config.js";
import { buildDesiredServices } from "../../src/controller/desired-services.js";
import { planReconcile, type ObservedService } from "../../src/controller/plan.js";
import {
  evaluateService,
  summarizeStatefulSet,
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

function summarize(actions: ReturnType<typeof planReconcile>): string[] {
  return actions.map((a) => {
    switch (a.kind) {
      case "apply":
        return `apply ${String((a.service["metadata"] as JsonObject)["name"])}${a.existing ? "" : " (create)"}`;
      case "delete":
        return `delete ${a.service.name} (${a.reason})`;
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
