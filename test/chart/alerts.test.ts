/**
 * The chart's PrometheusRule: every alert expression parses as PromQL (Prometheus' own Lezer
 * grammar), and each alert has its runbook. That every metric an alert uses is on a running
 * stsguard's /metrics is proven against a real API server, in test/e2e/audit.e2e.test.ts.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CHART_DIR } from "./helm.js";
import { analysePromQl as analyse, renderAlertRules } from "./prometheus-rules.js";

describe("PrometheusRule alerts", () => {
  const rules = renderAlertRules();

  it("ships the alerts the issue asks for, each with a runbook in the chart README", () => {
    expect(rules.map((r) => r.alert).sort()).toEqual([
      "StsguardAdmissionErrors",
      "StsguardCacheNotSynced",
      "StsguardCacheStale",
      "StsguardCertificateExpiringSoon",
      "StsguardExemptionExpiringSoon",
      "StsguardLogLinesDropped",
      "StsguardPerPodServiceFindings",
      "StsguardWebhookUnreachable",
    ]);
    const readme = readFileSync(path.join(CHART_DIR, "README.md"), "utf8");
    for (const rule of rules) {
      expect(readme).toContain(`\n### ${rule.alert}\n`);
      expect(rule.annotations["runbook_url"]).toMatch(
        new RegExp(`charts/stsguard/README\\.md#${rule.alert.toLowerCase()}$`),
      );
    }
  });

  it.each(rules.map((r) => [r.alert, r.expr] as const))("%s parses as PromQL", (_alert, expr) => {
    const { errors, metrics } = analyse(expr);
    expect(errors).toEqual([]);
    expect(metrics.length).toBeGreaterThan(0);
  });

  it("the parser does reject broken PromQL", () => {
    expect(analyse("sum(rate(foo[5m]) > ").errors.length).toBeGreaterThan(0);
    expect(analyse("max by (a (b)").errors.length).toBeGreaterThan(0);
  });
});
