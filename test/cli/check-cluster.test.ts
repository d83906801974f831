import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
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

describe("stsguard check --cluster (built CLI against a fake API server)", () => {
  let fake: FakeApiServer;
  let work: { dir: string; remove: () => Promise<void> };
  const runs: Record<string, CliRun> = {};

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    // Kubernetes 1.28: ClusterIP Services with externalIPs do not take externalTrafficPolicy yet.
    fake.setVersion({ major: "1", minor: "28", gitVersion: "v1.28.9" });
    fake.apply("statefulsets", {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "kafka", namespace: "default" },
      spec: { replicas: 2, template: { metadata: { labels: { app: "kafka" } } } },
    });
    fake.apply("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web-3", namespace: "default" },
      spec: { selector: { "statefulset.kubernetes.io/pod-name": "web-3" } },
    });
    // The governing Service of web lives only in the cluster.
    fake.apply("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "default" },
      spec: { clusterIP: "None", selector: { app: "web" } },
    });
    work = await makeTempDir();
    await writeFile(path.join(work.dir, "manifests.yaml"), MANIFESTS);
    await writeFile(path.join(work.dir, "kubeconfig.yaml"), renderKubeconfig(fake.url));
    await writeFile(path.join(work.dir, "down.yaml"), renderKubeconfig("http://127.0.0.1:9"));
    const [live, offline, down] = await Promise.all([
      runBuiltCli(
        ["check", "-o", "json", "--cluster", "--kubeconfig", "kubeconfig.yaml", "manifests.yaml"],
        { cwd: work.dir },
      ),
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
    Object.assign(runs, { live, offline, down });
  }, 120_000);

  afterAll(async () => {
    await fake.close();
    await work.remove();
  });

  const listFindings = (name: string): string[] =>
    (
      JSON.parse(runs[name]?.stdout ?? "") as {
        findings: { rule: string; name: string; line: number }[];
      }
    ).findings.map((f) => `${f.line} ${f.rule} ${f.name}`);

  it("resolves StatefulSets missing from the files in the cluster, and per-pod Services there too", () => {
    expect(runs["live"]?.stderr).toBe("");
    expect(listFindings("live")).toEqual([
      "15 ordinal-out-of-range kafka-2",
      "32 orphaned-service web",
    ]);
    expect(runs["live"]?.code).toBe(1);
  });

  it("takes the Kubernetes version from the cluster, and reads only what it needs", () => {
    expect(listFindings("live").some((f) => f.includes("external-traffic-policy"))).toBe(false);
    const paths = fake.readRequests().map((r) => r.path);
    expect(paths).toContain("/apis/apps/v1/namespaces/default/statefulsets/kafka");
    expect(paths).not.toContain("/apis/apps/v1/namespaces/default/statefulsets/web");
    expect(fake.readRequests().every((r) => r.authorization === "Bearer test-token")).toBe(true);
  });

  it("without --cluster only warns that the StatefulSet is not found", () => {
    expect(listFindings("offline")).toEqual([
      "7 statefulset-not-found kafka-1",
      "15 statefulset-not-found kafka-2",
      "24 external-traffic-policy web-0",
    ]);
  });

  it("resolves the governing Service from the cluster, and offline calls it unresolved, not missing", () => {
    expect(fake.readRequests().map((r) => r.path)).toContain(
      "/api/v1/namespaces/default/services/web",
    );
    expect(listFindings("live").some((f) => f.includes("governing-service"))).toBe(false);
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
