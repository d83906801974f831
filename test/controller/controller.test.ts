// Every behaviour of the controller a real API server can show is proven against one in
// test/e2e/controller*.e2e.test.ts. What stays here is what a real API server cannot be made to do
// on demand: fail writes with 5xx, so that the retry with backoff can be seen.
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait-for.js";
import {
  eventsOf,
  kafka,
  metricValue,
  startController,
  startFake,
  waitForServices,
} from "./harness.js";

async function leader(fake: Awaited<ReturnType<typeof startFake>>, overrides = {}) {
  const running = startController(fake, overrides);
  await waitFor("the controller to lead", () => running.controller.isLeader());
  return running;
}

describe("per-pod Service controller: API faults (fake API server: a real one does not fail on demand)", () => {
  it("retries API errors with exponential backoff until the write goes through", async () => {
    const fake = await startFake();
    for (let i = 0; i < 3; i += 1)
      fake.failNextWrite(
        { status: 500, reason: "InternalError", message: "etcd is down" },
        "services",
      );
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
