import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config/config.js";
import { evaluateService, summarizeStatefulSet } from "../../src/policy/index.js";
import { FakeStatus } from "../helpers/fake-apiserver.js";
import { APPLY_PATCH, createApplyPatchHandler } from "../helpers/server-side-apply.js";
import { waitFor } from "../helpers/wait-for.js";
import {
  eventsOf,
  kafka,
  metadataOf,
  metricValue,
  patchAsUser,
  serviceNames,
  specOf,
  startController,
  startFake,
  waitForServices,
} from "./harness.js";

type JsonObject = Record<string, unknown>;

const LB_ANNOTATIONS = {
  "stsguard.io/expose": "LoadBalancer",
  "stsguard.io/expose-ports": "kafka",
  "stsguard.io/expose-service-annotations":
    "service.beta.kubernetes.io/aws-load-balancer-type: nlb\n",
};

async function leader(fake: Awaited<ReturnType<typeof startFake>>, overrides = {}) {
  const running = startController(fake, overrides);
  await waitFor("the controller to lead", () => running.controller.isLeader());
  return running;
}

describe("per-pod Service controller (against the fake API server)", () => {
  it("creates one Service per ordinal, owned by the StatefulSet, each passing admission", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ annotations: LB_ANNOTATIONS }));
    const { registry } = await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2"]);

    const statefulSet = fake.get("statefulsets", "streaming", "kafka");
    const uid = metadataOf(statefulSet)["uid"];
    const summary = summarizeStatefulSet(statefulSet, "streaming");
    if (!summary) throw new Error("no summary");
    for (const service of fake.list("services", "streaming")) {
      const metadata = metadataOf(service);
      const ordinal = String(metadata["name"]).slice("kafka-".length);
      expect(metadata["labels"]).toEqual({
        "app.kubernetes.io/managed-by": "stsguard-controller",
        "stsguard.io/statefulset": "kafka",
        "stsguard.io/ordinal": ordinal,
      });
      expect(metadata["annotations"]).toEqual({
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
      });
      expect(metadata["ownerReferences"]).toEqual([
        {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          name: "kafka",
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(specOf(service)).toEqual({
        type: "LoadBalancer",
        externalTrafficPolicy: "Local",
        selector: { "statefulset.kubernetes.io/pod-name": `kafka-${ordinal}` },
        ports: [{ name: "kafka", protocol: "TCP", port: 9092, targetPort: "kafka" }],
      });
      // What the controller writes is what the webhook admits, unchanged.
      const verdict = evaluateService(
        service,
        { operation: "CREATE", lookup: { status: "found", statefulSet: summary } },
        defaultConfig.policy,
      );
      expect(verdict.findings).toEqual([]);
      expect(verdict.fixed).toEqual(service);
    }

    const writes = fake.writeRequests("services");
    expect(writes.length).toBe(3);
    for (const write of writes) {
      expect(write.method).toBe("PATCH");
      expect(write.contentType).toBe("application/apply-patch+yaml");
      expect(write.query).toEqual({ fieldManager: "stsguard-controller" });
    }
    await waitFor(
      "three ServiceCreated Events",
      () => eventsOf(fake, "ServiceCreated").length === 3,
    );
    expect(eventsOf(fake, "ServiceCreated")[0]).toMatchObject({
      type: "Normal",
      involvedObject: { kind: "StatefulSet", name: "kafka", uid },
    });
    expect(
      await metricValue(registry, "stsguard_controller_service_writes_total", {
        action: "created",
      }),
    ).toBe(3);
    expect(await metricValue(registry, "stsguard_controller_managed_services")).toBe(3);
    expect(await metricValue(registry, "stsguard_controller_leader")).toBe(1);
  });

  it("follows a scale to five and back to three, deleting only with a uid precondition", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 3 }));
    await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2"]);

    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["replicas"] = 5;
    });
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2", "kafka-3", "kafka-4"]);
    const kafka4Uid = metadataOf(fake.get("services", "streaming", "kafka-4"))["uid"];

    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["replicas"] = 3;
    });
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2"]);
    const deletes = fake.writeRequests("services").filter((r) => r.method === "DELETE");
    expect(deletes.map((r) => r.path).sort()).toEqual([
      "/api/v1/namespaces/streaming/services/kafka-3",
      "/api/v1/namespaces/streaming/services/kafka-4",
    ]);
    expect(deletes.find((r) => r.path.endsWith("kafka-4"))?.body).toMatchObject({
      preconditions: { uid: kafka4Uid },
    });
    await waitFor("two ServiceDeleted Events", () => eventsOf(fake, "ServiceDeleted").length === 2);
    expect(eventsOf(fake, "ServiceDeleted")[0]?.message).toMatch(
      /Deleted per-pod Service kafka-[34]: its pod's ordinal is no longer in the StatefulSet's ordinal range/,
    );
  });

  it("follows spec.ordinals.start when it moves", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["ordinals"] = { start: 10 };
    });
    await waitForServices(fake, ["kafka-10", "kafka-11"]);
    expect(metadataOf(fake.get("services", "streaming", "kafka-10"))["labels"]).toMatchObject({
      "stsguard.io/ordinal": "10",
    });
  });

  it("creates the Services when the annotation is added and deletes them when it is removed", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2, annotations: {} }));
    const running = await leader(fake);
    await waitFor("the caches to sync", () =>
      running.logs.some((l) => l["msg"] === "controller caches synced"),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fake.writeRequests("services")).toEqual([]);

    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      metadataOf(sts)["annotations"] = { "stsguard.io/expose": "NodePort" };
    });
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    expect(specOf(fake.get("services", "streaming", "kafka-0"))["type"]).toBe("NodePort");
    // Both container ports when expose-ports is not given.
    expect(
      (specOf(fake.get("services", "streaming", "kafka-0"))["ports"] as unknown[]).length,
    ).toBe(2);

    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      metadataOf(sts)["annotations"] = {};
    });
    await waitForServices(fake, []);
    await waitFor("ServiceDeleted Events", () => eventsOf(fake, "ServiceDeleted").length === 2);
    expect(eventsOf(fake, "ServiceDeleted")[0]?.message).toMatch(/expose annotation removed/);
  });

  it("deletes its Services when the StatefulSet is deleted", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    fake.remove("statefulsets", "streaming", "kafka");
    await waitForServices(fake, []);
  });

  it("knows its Services by its apply on record when an extra label overrides managed-by", async () => {
    const fake = await startFake();
    const sts = kafka({ replicas: 2 });
    (metadataOf(sts)["labels"] as JsonObject)["app.kubernetes.io/managed-by"] = "Helm";
    fake.apply("statefulsets", sts);
    const policy = {
      ...defaultConfig.policy,
      extraLabels: [
        {
          key: "app.kubernetes.io/managed-by",
          fromStatefulSetLabel: "app.kubernetes.io/managed-by",
        },
      ],
    };
    await leader(fake, { policy });
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    expect(metadataOf(fake.get("services", "streaming", "kafka-1"))["labels"]).toMatchObject({
      "app.kubernetes.io/managed-by": "Helm",
    });
    fake.update("statefulsets", "streaming", "kafka", (s) => {
      specOf(s)["replicas"] = 1;
    });
    await waitForServices(fake, ["kafka-0"]);
    expect(eventsOf(fake, "ServiceNotOwned")).toEqual([]);
  });

  it("leaves fields someone else set on a managed Service alone", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 1 }));
    await leader(fake);
    await waitForServices(fake, ["kafka-0"]);
    const edit = await patchAsUser(fake, "kafka-0", {
      metadata: { annotations: { "example.com/owner": "alice" } },
      spec: { loadBalancerSourceRanges: ["203.0.113.0/24"] },
    });
    expect(edit.status).toBe(200);
    // A later reconcile (the scale) applies kafka-0 again.
    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["replicas"] = 2;
    });
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    await waitFor(
      "kafka-0 to be applied after the edit",
      () => fake.writeRequests("services").filter((r) => r.path.endsWith("/kafka-0")).length >= 3,
    );
    const service = fake.get("services", "streaming", "kafka-0");
    expect(metadataOf(service)["annotations"]).toEqual({ "example.com/owner": "alice" });
    expect(specOf(service)["loadBalancerSourceRanges"]).toEqual(["203.0.113.0/24"]);
    expect(specOf(service)["externalTrafficPolicy"]).toBe("Local");
    expect(eventsOf(fake, "ServiceConflict")).toEqual([]);
  });

  it("reports a conflict on a field it owns as an Event and a metric, and never forces", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 1 }));
    const { registry } = await leader(fake, { resyncPeriodMs: 150 });
    await waitForServices(fake, ["kafka-0"]);
    const edit = await patchAsUser(fake, "kafka-0", { spec: { externalTrafficPolicy: "Cluster" } });
    expect(edit.status).toBe(200);

    await waitFor("a ServiceConflict Event", () => eventsOf(fake, "ServiceConflict").length === 1);
    const [event] = eventsOf(fake, "ServiceConflict");
    expect(event?.type).toBe("Warning");
    expect(event?.message).toMatch(
      /^Service kafka-0: Apply failed with 1 conflict: conflict with "kubectl-edit" using v1 at \S+: \.spec\.externalTrafficPolicy\. Not forced/,
    );
    expect(
      await metricValue(registry, "stsguard_controller_errors_total", { kind: "conflict" }),
    ).toBeGreaterThanOrEqual(1);
    // The resync tries again; the same Event counts up instead of piling up.
    await waitFor(
      "the conflict Event to count a repeat",
      () => (eventsOf(fake, "ServiceConflict")[0]?.count ?? 0) >= 2,
    );
    expect(eventsOf(fake, "ServiceConflict")).toHaveLength(1);
    expect(specOf(fake.get("services", "streaming", "kafka-0"))["externalTrafficPolicy"]).toBe(
      "Cluster",
    );
    expect(fake.writeRequests("services").every((r) => r.query["force"] === undefined)).toBe(true);
  });

  it("puts back a managed Service deleted by hand", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    const before = metadataOf(fake.get("services", "streaming", "kafka-1"))["uid"];
    fake.remove("services", "streaming", "kafka-1");
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    expect(metadataOf(fake.get("services", "streaming", "kafka-1"))["uid"]).not.toBe(before);
    // The same Event again: its count goes up (client-go's correlator does the same).
    await waitFor("the ServiceCreated Event of kafka-1 to count 2", () =>
      eventsOf(fake, "ServiceCreated").some((e) => e.message.includes("kafka-1") && e.count === 2),
    );
  });

  it("never deletes or takes over a hand-made Service with a matching name", async () => {
    const fake = await startFake();
    const handMade = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kafka-3", namespace: "streaming", labels: { owner: "alice" } },
      spec: {
        type: "NodePort",
        selector: { "statefulset.kubernetes.io/pod-name": "kafka-3" },
        ports: [{ port: 9092 }],
      },
    };
    fake.apply("services", handMade);
    const stored = fake.get("services", "streaming", "kafka-3");
    fake.apply("statefulsets", kafka({ replicas: 3 }));
    const { registry } = await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2", "kafka-3"]);

    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["replicas"] = 5;
    });
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2", "kafka-3", "kafka-4"]);
    await waitFor("a ServiceNotOwned Event", () => eventsOf(fake, "ServiceNotOwned").length === 1);
    expect(eventsOf(fake, "ServiceNotOwned")[0]?.message).toMatch(
      /^Service kafka-3 exists and was not created by stsguard-controller/,
    );
    expect(
      await metricValue(registry, "stsguard_controller_errors_total", { kind: "not-owned" }),
    ).toBeGreaterThanOrEqual(1);

    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["replicas"] = 3;
    });
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2", "kafka-3"]);
    expect(fake.get("services", "streaming", "kafka-3")).toEqual(stored);
    expect(fake.writeRequests("services").some((r) => r.path.endsWith("/kafka-3"))).toBe(false);
  });

  it("leaves alone a Service of a wanted name that is not a per-pod Service at all", async () => {
    const fake = await startFake();
    fake.apply("services", {
      metadata: { name: "kafka-1", namespace: "streaming" },
      spec: { selector: { app: "something-else" }, ports: [{ port: 80 }] },
    });
    const stored = fake.get("services", "streaming", "kafka-1");
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    await leader(fake);
    await waitFor("a ServiceNotOwned Event", () => eventsOf(fake, "ServiceNotOwned").length === 1);
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    expect(fake.get("services", "streaming", "kafka-1")).toEqual(stored);
    expect(fake.writeRequests("services").map((r) => r.path)).toEqual([
      "/api/v1/namespaces/streaming/services/kafka-0",
    ]);
  });

  it("reports bad annotations as an Event and a metric and writes nothing", async () => {
    const fake = await startFake();
    fake.apply(
      "statefulsets",
      kafka({
        annotations: {
          "stsguard.io/expose": "ClusterIP",
          "stsguard.io/expose-service-annotations": "[not, a, map]",
        },
      }),
    );
    const { registry } = await leader(fake);
    await waitFor(
      "an InvalidExposeAnnotation Event",
      () => eventsOf(fake, "InvalidExposeAnnotation").length === 1,
    );
    const [event] = eventsOf(fake, "InvalidExposeAnnotation");
    expect(event?.type).toBe("Warning");
    expect(event?.message).toBe(
      'annotation stsguard.io/expose: "ClusterIP" is not a Service type the controller writes (LoadBalancer or NodePort); ' +
        "annotation stsguard.io/expose-service-annotations: must be a map of annotation keys to strings; " +
        "no Service was written or deleted",
    );
    expect(
      await metricValue(registry, "stsguard_controller_errors_total", {
        kind: "invalid-annotation",
      }),
    ).toBe(1);
    expect(fake.writeRequests("services")).toEqual([]);
  });

  it("keeps its Services when the annotations turn bad", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    await leader(fake);
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      (metadataOf(sts)["annotations"] as JsonObject)["stsguard.io/expose-ports"] = "nosuchport";
    });
    await waitFor(
      "an InvalidExposeAnnotation Event",
      () => eventsOf(fake, "InvalidExposeAnnotation").length === 1,
    );
    expect(eventsOf(fake, "InvalidExposeAnnotation")[0]?.message).toMatch(
      /annotation stsguard.io\/expose-ports nosuchport: StatefulSet kafka has no container port named nosuchport/,
    );
    expect(serviceNames(fake)).toEqual(["kafka-0", "kafka-1"]);
  });

  it("retries API errors with exponential backoff until the write goes through", async () => {
    const fake = await startFake();
    const apply = createApplyPatchHandler();
    let failures = 3;
    fake.handlePatch(APPLY_PATCH, (current, body, context) => {
      failures -= 1;
      if (failures >= 0) throw new FakeStatus(500, "InternalError", "etcd is down");
      return apply(current, body, context);
    });
    fake.apply("statefulsets", kafka({ replicas: 1 }));
    const { registry, logs } = await leader(fake);
    await waitForServices(fake, ["kafka-0"]);
    expect(
      await metricValue(registry, "stsguard_controller_reconciles_total", { outcome: "error" }),
    ).toBe(3);
    expect(await metricValue(registry, "stsguard_controller_errors_total", { kind: "api" })).toBe(
      3,
    );
    // random() = 0: half of 20, 40, 80 ms.
    const delays = logs
      .filter((l) => l["msg"] === "reconcile failed; retrying after backoff")
      .map((l) => l["delayMs"]);
    expect(delays).toEqual([10, 20, 40]);
    await waitFor(
      "a ServiceApplyFailed Event",
      () => eventsOf(fake, "ServiceApplyFailed").length === 1,
    );
    expect(eventsOf(fake, "ServiceApplyFailed")[0]?.message).toMatch(
      /HTTP 500 InternalError: etcd is down; retrying/,
    );
  });
});
