// The admission metrics are counted in plain numbers per request and handed to prom-client when
// /metrics is read. What /metrics shows must be exactly what prom-client's own Counter and
// Histogram show for the same observations.
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics, type AdmissionDecision } from "../../src/observability/metrics.js";
import type { Finding } from "../../src/policy/index.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface Observation {
  readonly endpoint: "mutate" | "validate";
  readonly decision: AdmissionDecision;
  readonly mode: "enforce" | "monitor" | null;
  readonly rules: readonly string[];
  readonly seconds: number;
}

const OBSERVATIONS: readonly Observation[] = [
  {
    endpoint: "mutate",
    decision: "patched",
    mode: "enforce",
    rules: ["missing-labels"],
    seconds: 0.0003,
  },
  {
    endpoint: "validate",
    decision: "denied",
    mode: "enforce",
    rules: ["ordinal-out-of-range"],
    seconds: 0.0005,
  },
  { endpoint: "validate", decision: "allowed", mode: "enforce", rules: [], seconds: 0.0007 },
  {
    endpoint: "validate",
    decision: "denied",
    mode: "monitor",
    rules: ["ordinal-out-of-range", "missing-labels"],
    seconds: 0.04,
  },
  { endpoint: "validate", decision: "allowed", mode: null, rules: [], seconds: 3 },
  {
    endpoint: "mutate",
    decision: "patched",
    mode: "enforce",
    rules: ["missing-labels"],
    seconds: 0.0025,
  },
];

/** The lines of one metric family in a /metrics text. */
function family(text: string, name: string): string[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name}_`))
    .sort();
}

/** The same observations through prom-client's own metrics, as stsguard counted them before. */
async function withPromClient(observations: readonly Observation[]): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({
    name: "stsguard_admission_requests_total",
    help: "h",
    labelNames: ["endpoint", "decision", "mode"] as const,
    registers: [registry],
  });
  const findings = new Counter({
    name: "stsguard_admission_findings_total",
    help: "h",
    labelNames: ["endpoint", "rule", "severity"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "stsguard_admission_duration_seconds",
    help: "h",
    labelNames: ["endpoint"] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  for (const endpoint of ["mutate", "validate"]) {
    for (const decision of ["allowed", "patched", "denied", "rejected", "error"]) {
      requests.inc({ endpoint, decision }, 0);
    }
  }
  for (const o of observations) {
    requests.inc({ endpoint: o.endpoint, decision: o.decision, mode: o.mode ?? "none" });
    for (const rule of o.rules) findings.inc({ endpoint: o.endpoint, rule, severity: "error" });
    duration.observe({ endpoint: o.endpoint }, o.seconds);
  }
  return registry.metrics();
}

function record(
  metrics: ReturnType<typeof createMetrics>,
  observations: readonly Observation[],
): void {
  for (const o of observations) {
    const findings = o.rules.map((rule) => ({ rule, severity: "error" }) as Finding);
    metrics.observeAdmission(o.endpoint, o.decision, findings, o.seconds, o.mode);
  }
}

describe("admission metrics on /metrics", () => {
  it.each([
    "stsguard_admission_requests_total",
    "stsguard_admission_findings_total",
    "stsguard_admission_duration_seconds",
  ])("%s reads as prom-client's own metric would, across scrapes", async (name) => {
    const metrics = createMetrics({ isSourceReady: () => true });
    record(metrics, OBSERVATIONS.slice(0, 3));
    expect(family(await metrics.registry.metrics(), name)).toEqual(
      family(await withPromClient(OBSERVATIONS.slice(0, 3)), name),
    );
    // Counted between two scrapes: added to what the first one showed, never lost or doubled.
    record(metrics, OBSERVATIONS.slice(3));
    record(metrics, OBSERVATIONS);
    const expected = family(await withPromClient([...OBSERVATIONS, ...OBSERVATIONS]), name);
    expect(expected.length).toBeGreaterThan(2);
    expect(family(await metrics.registry.metrics(), name)).toEqual(expected);
    expect(family(await metrics.registry.metrics(), name)).toEqual(expected);
  });
});
