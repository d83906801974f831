// Two replicas on one Lease, the hand-over on SIGTERM and the take-over after a killed leader's
// Lease ran out are proven against a real API server in test/e2e/controller-ha.e2e.test.ts. What
// stays here is a fault a real API server cannot be made to show on demand: Lease renewals
// failing with 5xx until the renew deadline passes.
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait-for.js";
import { metricValue, startController, startFake } from "./harness.js";

describe("leader election on a coordination.k8s.io/v1 Lease (fake API server: 5xx on demand)", () => {
  it("stops leading when it cannot renew within the renew deadline, and leads again later", async () => {
    const fake = await startFake();
    const running = startController(fake, { identity: "replica-a" });
    await waitFor("the controller to lead", () => running.controller.isLeader());
    for (let i = 0; i < 12; i++) {
      fake.failNextWrite(
        { status: 500, reason: "InternalError", message: "etcd is down" },
        "leases",
      );
    }
    await waitFor("leadership to end", () => !running.controller.isLeader(), 3_000);
    expect(running.logs.some((l) => String(l["msg"]).includes("no longer the leader"))).toBe(true);
    expect(await metricValue(running.registry, "stsguard_controller_leader")).toBe(0);
    await waitFor("leading again", () => running.controller.isLeader(), 5_000);
  });
});
