import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import { makeTempDir, runBuiltCli, type CliRun } from "./built-cli.js";
import { runInProcess } from "./in-process-cli.js";

const MANIFESTS = `apiVersion: v1
kind: Service
metadata:
  name: kafka-1
  labels: {stsguard.io/statefulset: kafka, stsguard.io/ordinal: "1"}
spec:
  selector: {statefulset.kubernetes.io/pod-name: kafka-1}
---
apiVersion: v1
kind: Service
metadata:
  name: kafka-2
  labels: {stsguard.io/statefulset: kafka, stsguard.io/ordinal: "2"}
spec:
  selector: {statefulset.kubernetes.io/pod-name: kafka-2}
---
apiVersion: v1
kind: Service
metadata:
  name: web-0
  labels: {stsguard.io/statefulset: web, stsguard.io/ordinal: "0"}
spec:
  selector: {statefulset.kubernetes.io/pod-name: web-0}
  externalIPs: [203.0.113.7]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 1
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}
`;

/**
 * `stsguard check` without a cluster, and with one that does not answer. Against a live cluster
 * (StatefulSets, per-pod and governing Services resolved there, the version read from it, with
 * exactly the rights docs/ci.md names) it is proven on a real API server in
 * test/e2e/audit.e2e.test.ts.
 */
describe("stsguard check: offline, and with a cluster that does not answer", () => {
  let work: { dir: string; remove: () => Promise<void> };
  const runs: Record<string, CliRun> = {};

  beforeAll(async () => {
    work = await makeTempDir();
    await writeFile(path.join(work.dir, "manifests.yaml"), MANIFESTS);
    // Nothing listens on port 9 (discard).
    await writeFile(path.join(work.dir, "down.yaml"), renderKubeconfig("http://127.0.0.1:9"));
    const [offline, down] = await Promise.all([
      runInProcess(["check", "-o", "json", "manifests.yaml"], { cwd: work.dir }),
      runBuiltCli(
        [
          "check",
          "-o",
          "json",
          "--kubeconfig",
          "down.yaml",
          "--kube-version",
          "1.30",
          "manifests.yaml",
        ],
        { cwd: work.dir },
      ),
    ]);
    Object.assign(runs, { offline, down });
  }, 120_000);

  afterAll(async () => {
    await work.remove();
  });

  const listFindings = (name: string): string[] =>
    (
      JSON.parse(runs[name]?.stdout ?? "") as {
        findings: { rule: string; name: string; line: number }[];
      }
    ).findings.map((f) => `${f.line} ${f.rule} ${f.name}`);

  it("without --cluster only warns that the StatefulSet is not found", () => {
    expect(listFindings("offline")).toEqual([
      "7 statefulset-not-found kafka-1",
      "15 statefulset-not-found kafka-2",
      "24 external-traffic-policy web-0",
    ]);
  });

  it("offline calls a governing Service the inputs lack unresolved, not missing", () => {
    expect(listFindings("offline").some((f) => f.includes("governing-service"))).toBe(false);
    expect(runs["offline"]?.stderr).toContain(
      "warning: StatefulSet default/web: governing-service not checked: Service default/web is not among the inputs",
    );
  });

  it("exits 2 and says the cluster could not be read when the API server is down", () => {
    expect(runs["down"]?.code).toBe(2);
    expect(runs["down"]?.stderr).toMatch(
      /manifests\.yaml:7:\d+: error: Service default\/kafka-1: cannot read StatefulSet default\/kafka/,
    );
  });
});
