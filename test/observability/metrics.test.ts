import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";

describe("stsguard_exemptions_applied_total", () => {
  // A real API server sends one write to /mutate and then to /validate, and both answers name
  // the exemption (test/e2e/webhook-modes.e2e.test.ts): the write must count once.
  it("counts a write once: at /validate, not again at /mutate", async () => {
    const metrics = createMetrics({ isSourceReady: () => true });
    metrics.observeAdmission("mutate", "patched", [], 0.001, "enforce", ["lb-migration"]);
    metrics.observeAdmission("validate", "allowed", [], 0.001, "enforce", ["lb-migration"]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('stsguard_exemptions_applied_total{exemption="lb-migration"} 1\n');
  });
});
