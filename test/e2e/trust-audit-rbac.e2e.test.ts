// Issue 20, item 5 (the audit CronJob): the chart's audit ServiceAccount may get, list, update and
// delete only the reports named `stsguard`. Proven against the real API server's RBAC: `kubectl
// auth can-i` as the ServiceAccount, a real `stsguard audit --policy-reports` run with its token (create, update,
// delete of its own reports), and another tool's PolicyReport it can neither read, change nor delete.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statefulSet } from "./support/objects.js";
import { FULLNAME } from "../chart/helm.js";
import { RELEASE_NAMESPACE, installRbac } from "./support/chart.js";
import { eventually, startCluster, type Cluster, type CommandResult } from "./support/cluster.js";
import { repoRoot } from "./support/paths.js";
import { runCli } from "./support/stsguard.js";

const AUDIT_SA = `${FULLNAME}-audit`;
const AS_AUDIT = `system:serviceaccount:${RELEASE_NAMESPACE}:${AUDIT_SA}`;
const REPORTS = "policyreports.wgpolicyk8s.io";

interface Report {
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string> };
  results?: { policy: string; rule: string; result: string; resources?: { name: string }[] }[];
  summary?: Record<string, number>;
}

let cluster: Cluster | undefined;
let api: Cluster;
let auditKubeconfig: string;

/** A per-pod Service of web-5: out of range for 2 replicas (no webhook runs in this file). */
const outOfRange = (namespace: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: {
    name: "web-5",
    namespace,
    labels: { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": "5" },
  },
  spec: {
    type: "ClusterIP",
    selector: { "statefulset.kubernetes.io/pod-name": "web-5" },
    ports: [{ port: 80 }],
  },
});

/** A report another policy engine wrote: stsguard must neither change nor delete it. */
const foreignReport = (namespace: string, name: string) => ({
  apiVersion: "wgpolicyk8s.io/v1alpha2",
  kind: "PolicyReport",
  metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "kyverno" } },
  summary: { pass: 1, fail: 0, warn: 0, error: 0, skip: 0 },
  results: [{ policy: "require-labels", result: "pass", source: "kyverno" }],
});

beforeAll(async () => {
  api = cluster = await startCluster();
  await api.kubectl([
    "apply",
    "-f",
    path.join(repoRoot, "test/fixtures/crds/wgpolicyk8s.io_policyreports.yaml"),
  ]);
  await api.kubectl(["wait", "--for=condition=Established", `crd/${REPORTS}`, "--timeout=60s"]);
  auditKubeconfig = await installRbac(api, { audit: { enabled: true } }, AUDIT_SA);
  for (const namespace of ["shop", "other", "third"]) await api.createNamespace(namespace);
  await api.apply([
    statefulSet("shop", "web", { replicas: 2 }),
    outOfRange("shop"),
    statefulSet("third", "web", { replicas: 2 }),
    outOfRange("third"),
  ]);
  // The CRD's REST endpoint answers a moment after Established.
  await eventually(
    async () =>
      (await api.apply([foreignReport("other", "kyverno-polr")], { allowFailure: true })).code === 0
        ? true
        : undefined,
    "the PolicyReport resource to be served",
  );
  // Another producer's report that happens to carry the name stsguard uses.
  await api.apply([foreignReport("third", "stsguard")]);
});

afterAll(async () => {
  await cluster?.stop();
});

async function canI(verb: string, resource: string, namespace: string): Promise<string> {
  const result = await api.kubectl(
    ["auth", "can-i", verb, resource, "-n", namespace, "--as", AS_AUDIT],
    {
      allowFailure: true,
    },
  );
  return result.stdout.trim();
}

function audit(): Promise<CommandResult> {
  return runCli([
    "audit",
    "--kubeconfig",
    auditKubeconfig,
    "--policy-reports",
    "--report-api",
    "wgpolicyk8s",
    "-o",
    "json",
  ]);
}

describe("the audit ServiceAccount's rights, as the API server's RBAC answers", () => {
  it.each([
    { verb: "update", resource: `${REPORTS}/stsguard`, namespace: "shop", answer: "yes" },
    { verb: "delete", resource: `${REPORTS}/stsguard`, namespace: "shop", answer: "yes" },
    { verb: "get", resource: `${REPORTS}/stsguard`, namespace: "shop", answer: "yes" },
    { verb: "create", resource: REPORTS, namespace: "shop", answer: "yes" },
    // A list that selects metadata.name=stsguard is authorized as that name; any other is not.
    { verb: "list", resource: `${REPORTS}/stsguard`, namespace: "other", answer: "yes" },
    { verb: "list", resource: REPORTS, namespace: "other", answer: "no" },
    { verb: "watch", resource: REPORTS, namespace: "other", answer: "no" },
    { verb: "update", resource: `${REPORTS}/kyverno-polr`, namespace: "other", answer: "no" },
    { verb: "delete", resource: `${REPORTS}/kyverno-polr`, namespace: "other", answer: "no" },
    { verb: "patch", resource: `${REPORTS}/kyverno-polr`, namespace: "other", answer: "no" },
    { verb: "get", resource: `${REPORTS}/kyverno-polr`, namespace: "other", answer: "no" },
    { verb: "patch", resource: `${REPORTS}/stsguard`, namespace: "shop", answer: "no" },
    { verb: "deletecollection", resource: REPORTS, namespace: "other", answer: "no" },
    { verb: "update", resource: "services/web-5", namespace: "shop", answer: "no" },
  ])("$verb $resource in $namespace: $answer", async ({ verb, resource, namespace, answer }) => {
    expect(await canI(verb, resource, namespace)).toBe(answer);
  });

  it("is refused by the API server when it tries to change or delete another tool's report", async () => {
    const asAudit = (args: string[]) =>
      api.kubectl([`--kubeconfig=${auditKubeconfig}`, ...args], { allowFailure: true });
    const deleted = await asAudit(["delete", REPORTS, "kyverno-polr", "-n", "other"]);
    expect(deleted.code).not.toBe(0);
    expect(deleted.stderr).toContain(
      `policyreports.wgpolicyk8s.io "kyverno-polr" is forbidden: User "${AS_AUDIT}" cannot delete resource "policyreports" in API group "wgpolicyk8s.io" in the namespace "other"`,
    );
    const listed = await asAudit(["get", REPORTS, "-n", "other"]);
    expect(listed.stderr).toContain(
      `User "${AS_AUDIT}" cannot list resource "policyreports" in API group "wgpolicyk8s.io" in the namespace "other"`,
    );
    const listedByName = await asAudit([
      "get",
      REPORTS,
      "-A",
      "--field-selector",
      "metadata.name=stsguard",
      "-o",
      "name",
    ]);
    expect(listedByName.code).toBe(0);
    const patched = await asAudit([
      "label",
      REPORTS,
      "kyverno-polr",
      "-n",
      "other",
      "tampered=yes",
    ]);
    expect(patched.code).not.toBe(0);
    expect(patched.stderr).toContain("is forbidden");
    const stored = await api.get<Report>(REPORTS, "kyverno-polr", "other");
    expect(stored?.metadata.labels).toEqual({ "app.kubernetes.io/managed-by": "kyverno" });
  });
});

describe("stsguard audit --policy-reports as that ServiceAccount", () => {
  it("creates, updates and deletes its own reports, and leaves every other report alone", async () => {
    const kyvernoBefore = await api.get<Report>(REPORTS, "kyverno-polr", "other");
    const thirdBefore = await api.get<Report>(REPORTS, "stsguard", "third");

    const first = await audit();
    expect(first.stderr).toContain(
      "stsguard audit: PolicyReport stsguard: 1 created, 0 updated, 0 deleted",
    );
    // The namespace whose report of that name is another producer's fails, and says why.
    expect(first.stderr).toContain(
      "stsguard audit: error: PolicyReport third/stsguard: third/stsguard exists but is not stsguard's (no label app.kubernetes.io/managed-by=stsguard); left alone",
    );
    expect(first.code).toBe(2);
    const created = await api.get<Report>(REPORTS, "stsguard", "shop");
    expect(created?.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("stsguard");
    expect(
      created?.results
        ?.filter((r) => r.result === "fail")
        .map((r) => [r.rule, r.resources?.[0]?.name]),
    ).toEqual([["ordinal-out-of-range", "web-5"]]);

    // A second run updates its report in place (PUT, limited by name).
    await api.kubectl(["scale", "statefulset", "web", "-n", "shop", "--replicas=3"]);
    const second = await audit();
    expect(second.stderr).toContain("PolicyReport stsguard: 0 created, 1 updated, 0 deleted");
    const updated = await api.get<Report>(REPORTS, "stsguard", "shop");
    expect(updated?.metadata.resourceVersion).not.toBe(created?.metadata.resourceVersion);

    // Once the namespace has nothing to report, its report is deleted (DELETE, limited by name).
    await api.kubectl(["delete", "service", "web-5", "-n", "shop"]);
    await api.kubectl(["delete", "statefulset", "web", "-n", "shop"]);
    const third = await audit();
    expect(third.stderr).toContain("PolicyReport stsguard: 0 created, 0 updated, 1 deleted");
    expect(await api.get(REPORTS, "stsguard", "shop")).toBeNull();

    // Every run left the other producers' reports exactly as they were.
    expect(
      (await api.get<Report>(REPORTS, "kyverno-polr", "other"))?.metadata.resourceVersion,
    ).toBe(kyvernoBefore?.metadata.resourceVersion);
    expect((await api.get<Report>(REPORTS, "stsguard", "third"))?.metadata.resourceVersion).toBe(
      thirdBefore?.metadata.resourceVersion,
    );
  });
});
