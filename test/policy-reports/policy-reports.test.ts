/**
 * `stsguard audit --policy-reports` (built CLI) against the fake API server serving the report
 * resources as an installed CRD would: every report validates against the published CRD schema,
 * is updated in place, and is deleted once its namespace has no results left; a missing CRD
 * writes nothing.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, runBuiltCli, type CliRun } from "../cli/built-cli.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import { NAMESPACES, seedAuditCluster } from "../audit/audit-cluster.js";
import { loadCrdValidator } from "./crd-schema.js";

interface Result {
  readonly policy: string;
  readonly rule: string;
  readonly result: string;
  readonly source: string;
  readonly scored: boolean;
  readonly properties: Record<string, string>;
  readonly resources: { kind: string; namespace: string; name: string }[];
}

interface Report {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; namespace: string; resourceVersion: string; uid: string };
  readonly summary: Record<string, number>;
  readonly results: Result[];
  readonly source?: string;
}

const POLICY_REPORTS = {
  group: "wgpolicyk8s.io",
  version: "v1alpha2",
  kind: "PolicyReport",
  namespaced: true,
};

const CONFIG = `exemptions:
  - name: lb-migration
    reason: "PLAT-9, load balancers move next sprint"
    expires: "2099-01-01T00:00:00Z"
    namespaces: [ns-4]
    rules: [external-traffic-policy]
  - name: ci-deployer
    reason: "the CI deployer may"
    namespaces: [ns-1]
    users: ["system:serviceaccount:ci:deployer"]
`;

function find(
  report: Report | undefined,
  kind: string,
  name: string,
  rule: string,
): Result | undefined {
  return report?.results.find(
    (r) => r.rule === rule && r.resources[0]?.kind === kind && r.resources[0].name === name,
  );
}

function countResults(report: Report): Record<string, number> {
  const counts: Record<string, number> = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const result of report.results) counts[result.result] = (counts[result.result] ?? 0) + 1;
  return counts;
}

describe("stsguard audit --policy-reports (wgpolicyk8s.io/v1alpha2)", () => {
  let fake: FakeApiServer;
  let work: { dir: string; remove: () => Promise<void> };
  let first: CliRun;
  let second: CliRun;
  const before = new Map<string, Report>();
  const validator = loadCrdValidator("wgpolicyk8s.io_policyreports.yaml", "v1alpha2");
  const reports = (): Report[] => fake.list("policyreports") as unknown as Report[];
  const reportIn = (namespace: string): Report | undefined =>
    fake.get("policyreports", namespace, "stsguard") as Report | undefined;

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    seedAuditCluster(fake);
    fake.serveResource("policyreports", POLICY_REPORTS);
    // Another producer's report must be left alone.
    fake.apply("policyreports", {
      metadata: { name: "other-engine", namespace: "ns-9", labels: { team: "x" } },
      results: [],
    });
    work = await makeTempDir("stsguard-reports-");
    await writeFile(path.join(work.dir, "kubeconfig"), renderKubeconfig(fake.url));
    await writeFile(path.join(work.dir, "stsguard.yaml"), CONFIG);
    const audit = (): Promise<CliRun> =>
      runBuiltCli(
        [
          "audit",
          "--kubeconfig",
          "kubeconfig",
          "--config",
          "stsguard.yaml",
          "--kube-version",
          "1.30",
          "--policy-reports",
          "-o",
          "json",
        ],
        { cwd: work.dir },
      );
    first = await audit();
    for (const report of reports()) before.set(report.metadata.namespace, report);

    // Then: ns-1/app-0 is scaled back to 3, everything in ns-9 is deleted, and the first update
    // meets a concurrent change (409) that must be re-read and retried.
    fake.update("statefulsets", "ns-1", "app-0", (sts) => {
      (sts["spec"] as Record<string, unknown>)["replicas"] = 3;
    });
    for (const sts of fake.list("statefulsets", "ns-9")) {
      fake.remove("statefulsets", "ns-9", (sts["metadata"] as { name: string }).name);
    }
    for (const svc of fake.list("services", "ns-9")) {
      fake.remove("services", "ns-9", (svc["metadata"] as { name: string }).name);
    }
    fake.failNextWrite({
      status: 409,
      reason: "Conflict",
      message: "the object has been modified",
    });
    fake.requests.length = 0;
    second = await audit();
  }, 120_000);

  afterAll(async () => {
    await fake.close();
    await work.remove();
  });

  it("writes one report named stsguard per namespace, and exits as the findings say", () => {
    expect(first.stderr).toContain(
      "stsguard audit: PolicyReport stsguard: 10 created, 0 updated, 0 deleted",
    );
    expect(first.code).toBe(1);
    expect([...before.keys()].sort()).toEqual([...NAMESPACES].sort());
    for (const report of before.values()) {
      expect(report.apiVersion).toBe("wgpolicyk8s.io/v1alpha2");
      expect(report.kind).toBe("PolicyReport");
      expect(report.metadata.name).toBe("stsguard");
    }
  });

  it("every report validates against the published CRD schema, with nothing the server would prune", () => {
    for (const report of [...before.values(), ...reports()]) {
      const { metadata, ...rest } = report;
      const sent = { ...rest, metadata: { name: metadata.name, namespace: metadata.namespace } };
      expect(validator.problems(sent), metadata.namespace).toEqual([]);
    }
  });

  it("has one result per object and rule, with policy, source, scored, and summary counts", () => {
    const ns0 = before.get("ns-0");
    if (!ns0) throw new Error("no report in ns-0");
    // 10 StatefulSets × 2 rules + 30 per-pod Services × 6 rules, all passing.
    expect(ns0.results).toHaveLength(10 * 2 + 30 * 6);
    expect(ns0.summary).toEqual({ pass: 200, fail: 0, warn: 0, error: 0, skip: 0 });
    for (const report of before.values()) {
      expect(report.summary).toEqual(countResults(report));
      for (const result of report.results) {
        expect(result).toMatchObject({ policy: "stsguard", source: "stsguard", scored: true });
        expect(result.resources).toHaveLength(1);
      }
      const keys = report.results.map(
        (r) => `${r.resources[0]?.kind}/${r.resources[0]?.name}/${r.rule}`,
      );
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it("fail for errors, warn for warnings", () => {
    const ns1 = before.get("ns-1");
    expect(find(ns1, "Service", "app-0-1", "ordinal-out-of-range")?.result).toBe("fail");
    expect(find(ns1, "Service", "app-0-0", "ordinal-out-of-range")?.result).toBe("pass");
    const orphaned = find(ns1, "StatefulSet", "app-0", "orphaned-service");
    expect(orphaned?.result).toBe("warn");
    expect(find(before.get("ns-3"), "StatefulSet", "app-1", "governing-service")?.result).toBe(
      "warn",
    );
    expect(find(before.get("ns-2"), "Service", "lonely-0", "statefulset-not-found")?.result).toBe(
      "warn",
    );
  });

  it("skip for an exempted finding, with the exemption in properties", () => {
    const skipped = find(before.get("ns-4"), "Service", "app-2-0", "external-traffic-policy");
    expect(skipped?.result).toBe("skip");
    expect(skipped?.properties).toEqual({
      mode: "enforce",
      exemption: "lb-migration",
      exemptionReason: "PLAT-9, load balancers move next sprint",
      exemptionExpires: "2099-01-01T00:00:00Z",
    });
  });

  it("says which exemptions could not be evaluated without the requesting user", () => {
    expect(first.stderr).toContain(
      "warning: exemption ci-deployer could not be evaluated: it matches on user, which audit does not know",
    );
  });

  it("updates reports in place (PUT with the stored resourceVersion), retrying a 409", () => {
    expect(second.stderr).toContain(
      "stsguard audit: PolicyReport stsguard: 0 created, 9 updated, 1 deleted",
    );
    const puts = fake.requests.filter((r) => r.method === "PUT");
    // 9 updates, one of which met the 409 and was sent again.
    expect(puts).toHaveLength(10);
    expect(fake.requests.filter((r) => r.method === "POST")).toEqual([]);
    const ns1 = reportIn("ns-1");
    expect(ns1?.metadata.uid).toBe(before.get("ns-1")?.metadata.uid);
    expect(ns1?.summary.fail).toBe(0);
    expect(find(ns1, "Service", "app-0-1", "ordinal-out-of-range")?.result).toBe("pass");
  });

  it("deletes stsguard's report in a namespace with no results left, and only that one", () => {
    expect(reportIn("ns-9")).toBeUndefined();
    expect(fake.get("policyreports", "ns-9", "other-engine")).toBeDefined();
    expect(fake.requests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([
      "/apis/wgpolicyk8s.io/v1alpha2/namespaces/ns-9/policyreports/stsguard",
    ]);
  });
});

describe("stsguard audit --policy-reports when the CRD is not installed", () => {
  it("says so in one line, exits 2 and writes nothing", async () => {
    const fake = await FakeApiServer.start();
    const work = await makeTempDir("stsguard-reports-");
    try {
      seedAuditCluster(fake);
      await writeFile(path.join(work.dir, "kubeconfig"), renderKubeconfig(fake.url));
      const run = await runBuiltCli(
        ["audit", "--kubeconfig", "kubeconfig", "--kube-version", "1.30", "--policy-reports"],
        { cwd: work.dir },
      );
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe(
        "stsguard: PolicyReport (policyreports.wgpolicyk8s.io/v1alpha2) is not served by the API " +
          "server: install its CRD first; no report was written\n",
      );
      expect(fake.requests.filter((r) => r.method !== "GET")).toEqual([]);
    } finally {
      await fake.close();
      await work.remove();
    }
  }, 60_000);
});

describe("stsguard audit --policy-reports --report-api openreports", () => {
  it("writes openreports.io/v1alpha1 Reports that validate against the published CRD", async () => {
    const fake = await FakeApiServer.start();
    const work = await makeTempDir("stsguard-reports-");
    try {
      seedAuditCluster(fake);
      fake.serveResource("reports", {
        group: "openreports.io",
        version: "v1alpha1",
        kind: "Report",
        namespaced: true,
      });
      await writeFile(path.join(work.dir, "kubeconfig"), renderKubeconfig(fake.url));
      const run = await runBuiltCli(
        [
          "audit",
          "--kubeconfig",
          "kubeconfig",
          "--kube-version",
          "1.30",
          "--policy-reports",
          "--report-api",
          "openreports",
          "-n",
          "ns-1",
        ],
        { cwd: work.dir },
      );
      expect(run.stderr).toContain("Report stsguard: 1 created");
      const validator = loadCrdValidator("openreports.io_reports.yaml", "v1alpha1");
      const written = fake.list("reports") as unknown as Report[];
      expect(
        written.map((r) => `${r.apiVersion} ${r.kind} ${r.metadata.namespace}/${r.metadata.name}`),
      ).toEqual(["openreports.io/v1alpha1 Report ns-1/stsguard"]);
      const [report] = written;
      if (!report) throw new Error("no report");
      expect(report.source).toBe("stsguard");
      const { metadata, ...rest } = report;
      expect(validator.problems({ ...rest, metadata: { name: metadata.name } })).toEqual([]);
      expect(find(report, "Service", "app-0-2", "ordinal-out-of-range")?.result).toBe("fail");
    } finally {
      await fake.close();
      await work.remove();
    }
  }, 60_000);
});
