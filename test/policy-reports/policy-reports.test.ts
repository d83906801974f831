/**
 * `stsguard audit --policy-reports` (built CLI) when an update meets a concurrent change. Why a
 * test API server: the 409 Conflict must come on demand, between audit's read of the report and
 * its PUT, which a real API server cannot be made to do. Everything else — reports created,
 * updated in place, deleted, other producers' reports kept, the missing CRD, openreports — is
 * proven against a real API server with the published CRDs in
 * test/e2e/audit-reports.e2e.test.ts.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, runBuiltCli, type CliRun } from "../cli/built-cli.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import { NAMESPACES, seedAuditCluster } from "../audit/audit-cluster.js";

interface Report {
  readonly metadata: { namespace: string; uid: string };
  readonly summary: Record<string, number>;
}

describe("stsguard audit --policy-reports: an update that meets a 409 Conflict", () => {
  let fake: FakeApiServer;
  let work: { dir: string; remove: () => Promise<void> };
  let second: CliRun;
  const uids = new Map<string, string>();

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    seedAuditCluster(fake);
    fake.serveResource("policyreports", {
      group: "wgpolicyk8s.io",
      version: "v1alpha2",
      kind: "PolicyReport",
      namespaced: true,
    });
    work = await makeTempDir("stsguard-reports-");
    await writeFile(path.join(work.dir, "kubeconfig"), renderKubeconfig(fake.url));
    const audit = (): Promise<CliRun> =>
      runBuiltCli(
        ["audit", "--kubeconfig", "kubeconfig", "--kube-version", "1.30", "--policy-reports"],
        { cwd: work.dir },
      );
    const first = await audit();
    expect(first.stderr).toContain("PolicyReport stsguard: 10 created, 0 updated, 0 deleted");
    for (const report of fake.list("policyreports") as unknown as Report[]) {
      uids.set(report.metadata.namespace, report.metadata.uid);
    }
    fake.update("statefulsets", "ns-1", "app-0", (sts) => {
      (sts["spec"] as Record<string, unknown>)["replicas"] = 3;
    });
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

  it("re-reads the report and sends the update again, in place", () => {
    expect(second.stderr).toContain("PolicyReport stsguard: 0 created, 10 updated, 0 deleted");
    // 10 updates, one of which met the 409 and was sent again after a GET of the report.
    expect(fake.requests.filter((r) => r.method === "PUT")).toHaveLength(11);
    expect(fake.requests.filter((r) => r.method === "POST")).toEqual([]);
    for (const namespace of NAMESPACES) {
      const report = fake.get("policyreports", namespace, "stsguard") as Report | undefined;
      expect(report?.metadata.uid).toBe(uids.get(namespace));
    }
    const ns1 = fake.get("policyreports", "ns-1", "stsguard") as Report | undefined;
    expect(ns1?.summary["fail"]).toBe(0);
  });
});
