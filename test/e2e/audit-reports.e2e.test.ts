/**
 * `stsguard audit --policy-reports` against a real 1.26 API server with the published report CRDs
 * installed (test/fixtures/crds), run with the chart's audit CronJob ServiceAccount and RBAC for
 * each report API: reports created, updated in place after the cluster changes, deleted where a
 * namespace has no results left (docs/audit.md), other producers' reports left alone;
 * and, before the CRDs exist, exit 2 with one line and nothing written.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUDIT_SERVICE_ACCOUNT,
  auditValues,
  installAudit,
  seedAuditCluster,
  type AuditRunner,
} from "./support/audit.js";
import { RELEASE_NAMESPACE } from "./support/chart.js";
import { startCluster, type Cluster, type CommandResult } from "./support/cluster.js";
import { repoRoot } from "./support/paths.js";

interface Result {
  readonly policy: string;
  readonly rule: string;
  readonly result: string;
  readonly severity?: string;
  readonly message: string;
  readonly source: string;
  readonly scored: boolean;
  readonly category?: string;
  readonly properties: Record<string, string>;
  readonly resources: { apiVersion: string; kind: string; namespace: string; name: string }[];
  readonly timestamp: { seconds: number; nanos: number };
}

interface Report {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    uid: string;
    labels?: Record<string, string>;
  };
  readonly summary: Record<string, number>;
  readonly results: Result[];
  readonly source?: string;
}

const POLICY_REPORTS = "policyreports.v1alpha2.wgpolicyk8s.io";
const REPORTS = "reports.v1alpha1.openreports.io";

let cluster: Cluster | undefined;
let runner: AuditRunner;

function api(): Cluster {
  if (!cluster) throw new Error("the cluster did not start");
  return cluster;
}

const reports = async (resource: string): Promise<Report[]> =>
  (await api().list<Report>(resource)).sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
      `${b.metadata.namespace}/${b.metadata.name}`,
    ),
  );
const reportIn = (resource: string, namespace: string, name = "stsguard"): Promise<Report | null> =>
  api().get<Report>(resource, name, namespace);

function find(report: Report | null, kind: string, name: string, rule: string): Result | undefined {
  return report?.results.find(
    (r) => r.rule === rule && r.resources[0]?.kind === kind && r.resources[0].name === name,
  );
}

/** The summary a report's results add up to. */
function tally(report: Report): Record<string, number> {
  const counts: Record<string, number> = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const result of report.results) counts[result.result] = (counts[result.result] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  cluster = await startCluster();
  runner = await installAudit(cluster, auditValues("wgpolicyk8s"));
  await seedAuditCluster(cluster);
});

afterAll(async () => {
  await cluster?.stop();
});

describe("before the report CRDs are installed", () => {
  it.each([
    {
      api: "wgpolicyk8s",
      line: "stsguard: PolicyReport (policyreports.wgpolicyk8s.io/v1alpha2) is not served by the API server: install its CRD first; no report was written\n",
    },
    {
      api: "openreports",
      line: "stsguard: Report (reports.openreports.io/v1alpha1) is not served by the API server: install its CRD first; no report was written\n",
    },
  ])("--report-api $api: one line, exit 2, nothing read or written", async ({ api, line }) => {
    const run = await runner.audit("--policy-reports", "--report-api", api);
    expect(run).toEqual({ code: 2, stdout: "", stderr: line });
  });
});

describe("--policy-reports (wgpolicyk8s.io/v1alpha2 PolicyReport)", () => {
  let first: CommandResult;
  let second: CommandResult;
  const before = new Map<string, Report>();

  beforeAll(async () => {
    await api().kubectl(["apply", "-f", path.join(repoRoot, "test/fixtures/crds")]);
    await api().kubectl(["wait", "--for", "condition=established", "crd", "--all"]);
    // Another producer's report, which stsguard must leave alone.
    await api().apply([
      {
        apiVersion: "wgpolicyk8s.io/v1alpha2",
        kind: "PolicyReport",
        metadata: { name: "other-engine", namespace: "loose", labels: { team: "x" } },
        results: [],
      },
    ]);
    first = await runner.audit("--policy-reports", "-o", "json");
    for (const report of await reports(POLICY_REPORTS)) {
      before.set(`${report.metadata.namespace}/${report.metadata.name}`, report);
    }
    // Then the cluster changes: kafka is scaled back to 3, shop-0 gets externalTrafficPolicy
    // Local, and everything stsguard judged in namespace loose is deleted.
    await api().kubectl(["scale", "statefulset", "kafka", "-n", "scaled", "--replicas=3"]);
    await api().kubectl([
      "patch",
      "service",
      "shop-0",
      "-n",
      "exposed",
      "--type=merge",
      "-p",
      '{"spec":{"externalTrafficPolicy":"Local"}}',
    ]);
    await api().kubectl(["delete", "statefulset", "orders", "-n", "loose"]);
    await api().kubectl(["delete", "service", "lonely-0", "-n", "loose"]);
    second = await runner.audit("--policy-reports", "-o", "json");
  });

  it("creates one report named stsguard per namespace judged, and exits as the findings say", () => {
    expect(first.code).toBe(1);
    expect(first.stderr).toContain(
      "\nstsguard audit: PolicyReport stsguard: 5 created, 0 updated, 0 deleted\n",
    );
    expect([...before.keys()]).toEqual([
      "clean/stsguard",
      "exposed/stsguard",
      "legacy/stsguard",
      "loose/other-engine",
      "loose/stsguard",
      "scaled/stsguard",
    ]);
    for (const [key, report] of before) {
      if (key === "loose/other-engine") continue;
      expect(report.apiVersion).toBe("wgpolicyk8s.io/v1alpha2");
      expect(report.metadata.labels).toEqual({ "app.kubernetes.io/managed-by": "stsguard" });
    }
  });

  it("stores one result per object and rule, whose summary counts add up", () => {
    const summaries = Object.fromEntries(
      [...before].filter(([key]) => key.endsWith("/stsguard")).map(([key, r]) => [key, r.summary]),
    );
    expect(summaries).toEqual({
      // 3 StatefulSets × 2 rules + 7 per-pod Services × 6 rules
      "clean/stsguard": { pass: 48, fail: 0, warn: 0, error: 0, skip: 0 },
      // 1 × 2 + 4 × 6
      "exposed/stsguard": { pass: 22, fail: 4, warn: 0, error: 0, skip: 0 },
      // 1 × 2 + 2 × 6
      "legacy/stsguard": { pass: 12, fail: 0, warn: 1, error: 0, skip: 1 },
      // 1 × 2 + 1 × 6
      "loose/stsguard": { pass: 6, fail: 0, warn: 2, error: 0, skip: 0 },
      // 1 × 2 + 3 × 6; kafka's two orphans are one result (one per object and rule)
      "scaled/stsguard": { pass: 17, fail: 2, warn: 1, error: 0, skip: 0 },
    });
    for (const [key, report] of before) {
      if (key === "loose/other-engine") continue;
      expect(report.summary, key).toEqual(tally(report));
      const keys = report.results.map(
        (r) => `${r.resources[0]?.kind}/${r.resources[0]?.name}/${r.rule}`,
      );
      expect(new Set(keys).size, key).toBe(keys.length);
    }
  });

  it("stores every field of a result as written (nothing pruned by the CRD's schema)", () => {
    const result = find(
      before.get("scaled/stsguard") ?? null,
      "Service",
      "kafka-2",
      "ordinal-out-of-range",
    );
    expect(result).toEqual({
      category: "StatefulSet per-pod Services",
      message:
        "Service scaled/kafka-2 selects pod kafka-2, but StatefulSet kafka has 1 replica (ordinal 0); scale it up or select an existing ordinal",
      policy: "stsguard",
      properties: { mode: "enforce" },
      resources: [{ apiVersion: "v1", kind: "Service", name: "kafka-2", namespace: "scaled" }],
      result: "fail",
      rule: "ordinal-out-of-range",
      scored: true,
      severity: "high",
      source: "stsguard",
      timestamp: { seconds: expect.any(Number) as number, nanos: 0 },
    });
    expect(Math.abs((result?.timestamp.seconds ?? 0) - Date.now() / 1000)).toBeLessThan(120);
  });

  it("skip for the exempted finding, with the exemption in properties; warn for warnings", () => {
    const legacy = before.get("legacy/stsguard") ?? null;
    const skipped = find(legacy, "Service", "web-4", "ordinal-out-of-range");
    expect(skipped?.result).toBe("skip");
    expect(skipped?.properties).toEqual({
      mode: "enforce",
      exemption: "lb-migration",
      exemptionReason: "PLAT-9, load balancers move next sprint",
      exemptionExpires: "2099-01-01T00:00:00Z",
    });
    expect(find(legacy, "StatefulSet", "web", "orphaned-service")?.result).toBe("warn");
    const loose = before.get("loose/stsguard") ?? null;
    expect(find(loose, "Service", "lonely-0", "statefulset-not-found")?.result).toBe("warn");
    expect(find(loose, "StatefulSet", "orders", "governing-service")?.result).toBe("warn");
  });

  it("after the changes: updates the reports in place, deletes the one of a namespace with nothing left", async () => {
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      "\nstsguard audit: PolicyReport stsguard: 0 created, 4 updated, 1 deleted\n",
    );
    const after = await reports(POLICY_REPORTS);
    expect(after.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual([
      "clean/stsguard",
      "exposed/stsguard",
      "legacy/stsguard",
      "loose/other-engine",
      "scaled/stsguard",
    ]);
    const scaled = await reportIn(POLICY_REPORTS, "scaled");
    expect(scaled?.metadata.uid).toBe(before.get("scaled/stsguard")?.metadata.uid);
    expect(scaled?.metadata.resourceVersion).not.toBe(
      before.get("scaled/stsguard")?.metadata.resourceVersion,
    );
    // Every finding fixed: the report stays, with passes only.
    expect(scaled?.summary).toEqual({ pass: 20, fail: 0, warn: 0, error: 0, skip: 0 });
    const exposed = await reportIn(POLICY_REPORTS, "exposed");
    expect(find(exposed, "Service", "shop-0", "external-traffic-policy")?.result).toBe("pass");
    expect(exposed?.summary).toEqual({ pass: 23, fail: 3, warn: 0, error: 0, skip: 0 });
    expect(await reportIn(POLICY_REPORTS, "loose", "other-engine")).not.toBeNull();
  });

  it("-n writes only the namespaces given, and deletes nothing elsewhere", async () => {
    const run = await runner.audit("--policy-reports", "-o", "json", "-n", "clean");
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(
      "\nstsguard audit: PolicyReport stsguard: 0 created, 1 updated, 0 deleted\n",
    );
    expect((await reports(POLICY_REPORTS)).length).toBe(5);
  });
});

describe("--report-api openreports (openreports.io/v1alpha1 Report)", () => {
  beforeAll(async () => {
    // The chart's audit RBAC for this report API instead.
    runner = await installAudit(api(), auditValues("openreports"));
  });

  it("writes a Report per namespace with the same results, and source stsguard", async () => {
    const run = await runner.audit("--policy-reports", "--report-api", "openreports", "-o", "json");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "\nstsguard audit: Report stsguard: 4 created, 0 updated, 0 deleted\n",
    );
    const written = await reports(REPORTS);
    expect(
      written.map((r) => `${r.apiVersion} ${r.kind} ${r.metadata.namespace}/${r.metadata.name}`),
    ).toEqual([
      "openreports.io/v1alpha1 Report clean/stsguard",
      "openreports.io/v1alpha1 Report exposed/stsguard",
      "openreports.io/v1alpha1 Report legacy/stsguard",
      "openreports.io/v1alpha1 Report scaled/stsguard",
    ]);
    const exposed = written.find((r) => r.metadata.namespace === "exposed");
    expect(exposed?.source).toBe("stsguard");
    expect(exposed?.summary).toEqual({ pass: 23, fail: 3, warn: 0, error: 0, skip: 0 });
    const policyReport = await reportIn(POLICY_REPORTS, "exposed");
    const strip = (r: Report | null | undefined): unknown[] =>
      (r?.results ?? []).map((result) => ({ ...result, timestamp: null }));
    expect(strip(exposed)).toEqual(strip(policyReport));
  });

  it("deletes a Report once its namespace has nothing left", async () => {
    await api().kubectl(["delete", "statefulset,service", "--all", "-n", "legacy"]);
    const run = await runner.audit("--policy-reports", "--report-api", "openreports");
    expect(run.stderr).toContain(
      "\nstsguard audit: Report stsguard: 0 created, 3 updated, 1 deleted\n",
    );
    expect(await reportIn(REPORTS, "legacy")).toBeNull();
  });

  it("the openreports rendering grants no PolicyReport rights: that run fails, exit 2", async () => {
    const run = await runner.audit("--policy-reports", "-n", "clean");
    expect(run.code).toBe(2);
    // 3 pages: StatefulSets, HorizontalPodAutoscalers, Services. audit lists its reports with the
    // field selector metadata.name=stsguard, which the API server authorizes as a request for
    // that name: the refusal names it.
    expect(run.stderr).toBe(
      `stsguard audit: judged 10 objects (3 StatefulSets, 7 per-pod Services) in 1 namespace, read in 3 pages from ${api().apiserverUrl}\n` +
        `stsguard: cannot list /apis/wgpolicyk8s.io/v1alpha2/namespaces/clean/policyreports: the API server answered HTTP 403 Forbidden: policyreports.wgpolicyk8s.io "stsguard" is forbidden: User "system:serviceaccount:${RELEASE_NAMESPACE}:${AUDIT_SERVICE_ACCOUNT}" cannot list resource "policyreports" in API group "wgpolicyk8s.io" in the namespace "clean"; no report was written\n`,
    );
  });
});
