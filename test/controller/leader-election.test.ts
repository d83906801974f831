import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait-for.js";
import {
  kafka,
  metricValue,
  specOf,
  startController,
  startFake,
  TEST_TIMING,
  waitForServices,
} from "./harness.js";

type JsonObject = Record<string, unknown>;

function leaseSpec(fake: Awaited<ReturnType<typeof startFake>>): JsonObject {
  return specOf(fake.get("leases", "stsguard", "stsguard-controller"));
}

describe("leader election on a coordination.k8s.io/v1 Lease", () => {
  it("lets exactly one of two controllers write, and the other take over when it stops", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    const a = startController(fake, { identity: "replica-a", token: "a" });
    const b = startController(fake, { identity: "replica-b", token: "b" });
    await waitFor("a leader", () => a.controller.isLeader() || b.controller.isLeader());
    await waitForServices(fake, ["kafka-0", "kafka-1"]);
    // Watch both for a while: never two leaders at once.
    const deadline = Date.now() + 500;
    while (Date.now() < deadline) {
      expect(Number(a.controller.isLeader()) + Number(b.controller.isLeader())).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [first, second] = a.controller.isLeader() ? [a, b] : [b, a];
    const firstToken = first === a ? "Bearer a" : "Bearer b";
    const secondToken = first === a ? "Bearer b" : "Bearer a";
    const serviceWrites = (): string[] =>
      fake.writeRequests("services").map((r) => r.authorization ?? "");
    expect(new Set(serviceWrites())).toEqual(new Set([firstToken]));
    expect(fake.writeRequests("events").every((r) => r.authorization === firstToken)).toBe(true);
    const spec = leaseSpec(fake);
    expect(spec).toMatchObject({
      holderIdentity: first === a ? "replica-a" : "replica-b",
      leaseDurationSeconds: 1,
      leaseTransitions: 0,
    });
    expect(spec["renewTime"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(await metricValue(first.registry, "stsguard_controller_leader")).toBe(1);
    expect(await metricValue(second.registry, "stsguard_controller_leader")).toBe(0);

    const stoppedAt = Date.now();
    await first.stop();
    // Released on shutdown: no holder, so the other need not wait for the lease to expire.
    expect(leaseSpec(fake)["holderIdentity"]).toBe("");
    await waitFor("the other controller to lead", () => second.controller.isLeader());
    expect(Date.now() - stoppedAt).toBeLessThan(TEST_TIMING.leaseDurationMs);
    expect(leaseSpec(fake)).toMatchObject({
      holderIdentity: second === a ? "replica-a" : "replica-b",
      leaseTransitions: 1,
    });

    const writesBefore = serviceWrites().length;
    fake.update("statefulsets", "streaming", "kafka", (sts) => {
      specOf(sts)["replicas"] = 3;
    });
    await waitForServices(fake, ["kafka-0", "kafka-1", "kafka-2"]);
    expect(new Set(serviceWrites().slice(writesBefore))).toEqual(new Set([secondToken]));
  });

  it("takes over a Lease whose holder stopped renewing once the lease duration has passed", async () => {
    const fake = await startFake();
    const now = new Date().toISOString().replace("Z", "000Z");
    fake.apply("leases", {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "stsguard-controller", namespace: "stsguard" },
      spec: {
        holderIdentity: "crashed-replica",
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 4,
      },
    });
    fake.apply("statefulsets", kafka({ replicas: 1 }));
    const startedAt = Date.now();
    const b = startController(fake, { identity: "replica-b" });
    await waitFor("the controller to lead", () => b.controller.isLeader(), 5_000);
    const waited = Date.now() - startedAt;
    expect(waited).toBeGreaterThanOrEqual(900);
    // Expiry, then the next retry (a generous bound: the test machine may be busy).
    expect(waited).toBeLessThan(1_000 + 25 * TEST_TIMING.retryPeriodMs);
    expect(leaseSpec(fake)).toMatchObject({ holderIdentity: "replica-b", leaseTransitions: 5 });
    await waitForServices(fake, ["kafka-0"]);
    // Nothing was written while the other replica still held the Lease.
    const firstWrite = fake.requests.findIndex(
      (r) => r.method !== "GET" && r.path.includes("/services/"),
    );
    const takeover = fake.requests.findIndex(
      (r) => r.method === "PUT" && r.path.endsWith("/leases/stsguard-controller"),
    );
    expect(takeover).toBeGreaterThanOrEqual(0);
    expect(firstWrite).toBeGreaterThan(takeover);
  });

  it("stops leading when it cannot renew within the renew deadline, and leads again later", async () => {
    const fake = await startFake();
    const running = startController(fake, { identity: "replica-a" });
    await waitFor("the controller to lead", () => running.controller.isLeader());
    for (let i = 0; i < 12; i++) {
      fake.failNextWrite({ status: 500, reason: "InternalError", message: "etcd is down" });
    }
    await waitFor("leadership to end", () => !running.controller.isLeader(), 3_000);
    expect(running.logs.some((l) => String(l["msg"]).includes("no longer the leader"))).toBe(true);
    expect(await metricValue(running.registry, "stsguard_controller_leader")).toBe(0);
    await waitFor("leading again", () => running.controller.isLeader(), 5_000);
  });
});
