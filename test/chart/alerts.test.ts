/**
 * The chart's PrometheusRule: every alert expression parses as PromQL (Prometheus' own Lezer
 * grammar), and every metric an alert uses is on a running stsguard's /metrics, scraped here
 * from the built CLI serving against the fake API server. So an alert can never watch a metric
 * that does not exist.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, cliPath } from "../cli/built-cli.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import { waitFor } from "../helpers/wait-for.js";
import { seedAuditCluster } from "../audit/audit-cluster.js";
import { requestHttp } from "../server/https-client.js";
import { CHART_DIR, findByKind, renderChart } from "./helm.js";

/** Metrics an alert may use that stsguard does not export: the API server's own. */
const EXTERNAL_METRICS = new Set(["apiserver_admission_webhook_rejection_count"]);

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly annotations: Record<string, string>;
}

function renderRules(): Rule[] {
  const objects = renderChart({ values: { metrics: { prometheusRule: { enabled: true } } } });
  const [rule] = findByKind(objects, "PrometheusRule");
  const groups = (rule as unknown as { spec: { groups: { rules: Rule[] }[] } }).spec.groups;
  return groups.flatMap((g) => g.rules);
}

/** Syntax errors (Lezer error nodes) and the metric names of every vector selector. */
function analyse(expr: string): { errors: string[]; metrics: string[] } {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const metrics: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`syntax error at ${node.from}: ${expr.slice(node.from, node.from + 20)}`);
      if (node.name === "VectorSelector") {
        const identifier = node.node.getChild("Identifier");
        if (identifier) metrics.push(expr.slice(identifier.from, identifier.to));
      }
    },
  });
  return { errors, metrics };
}

describe("PrometheusRule alerts", () => {
  const rules = renderRules();

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

  describe("against a running server's /metrics", () => {
    let fake: FakeApiServer;
    let work: { dir: string; remove: () => Promise<void> };
    let child: ChildProcess;
    let stderr = "";
    let scrape = "";

    beforeAll(async () => {
      fake = await FakeApiServer.start();
      fake.setVersion({ major: "1", minor: "30", gitVersion: "v1.30.2" });
      seedAuditCluster(fake);
      work = await makeTempDir("stsguard-alerts-");
      await mkdir(path.join(work.dir, "home"));
      await writeFile(path.join(work.dir, "kubeconfig"), renderKubeconfig(fake.url));
      await writeFile(
        path.join(work.dir, "stsguard.yaml"),
        'exemptions:\n  - name: lb-migration\n    reason: "PLAT-9"\n    expires: "2099-01-01T00:00:00Z"\n    namespaces: [ns-4]\n',
      );
      child = spawn(
        process.execPath,
        [
          cliPath,
          "serve",
          "--kubeconfig",
          "kubeconfig",
          "--config",
          "stsguard.yaml",
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--metrics-port",
          "0",
        ],
        {
          cwd: work.dir,
          env: { PATH: process.env["PATH"] ?? "", HOME: path.join(work.dir, "home") },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      await waitFor(
        "the start banner",
        () => /metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics/.test(stderr),
        30_000,
      );
      const metricsPort = Number(
        /metrics: +http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stderr)?.[1],
      );
      await waitFor(
        "ready",
        async () => (await requestHttp(metricsPort, "/readyz")).status === 200,
        20_000,
      );
      scrape = (await requestHttp(metricsPort, "/metrics")).text;
    }, 60_000);

    afterAll(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await fake.close();
      await work.remove();
    });

    const sampled = (metric: string): boolean =>
      scrape
        .split("\n")
        .some((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `));

    it("has a sample of every metric an alert uses (the API server's own excepted)", () => {
      const used = new Set(rules.flatMap((r) => analyse(r.expr).metrics));
      const missing = [...used].filter((m) => !EXTERNAL_METRICS.has(m) && !sampled(m));
      expect(missing).toEqual([]);
      // The exception is used, and is not ours.
      expect(used.has("apiserver_admission_webhook_rejection_count")).toBe(true);
      expect(sampled("apiserver_admission_webhook_rejection_count")).toBe(false);
    });

    it("reports the cluster's findings and the certificate's expiry", () => {
      // The audit cluster's findings (test/audit/audit-cluster.ts), counted as audit counts them.
      expect(scrape).toContain(
        'stsguard_cluster_findings{rule="ordinal-out-of-range",severity="error"} 4',
      );
      expect(scrape).toContain(
        'stsguard_cluster_findings{rule="orphaned-service",severity="warning"} 4',
      );
      expect(scrape).toContain(
        'stsguard_cluster_findings{rule="selector-mismatch",severity="error"} 0',
      );
      const expiry = Number(
        /^stsguard_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(scrape)?.[1],
      );
      // Development certificates are made valid for a while from now.
      expect(expiry).toBeGreaterThan(Date.now() / 1000 + 24 * 3600);
    });
  });
});
