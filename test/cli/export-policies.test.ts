import { writeFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { makeTempDir, runBuiltCli, type CliRun } from "./built-cli.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";

interface Exported {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

function parseYamlOutput(run: CliRun): Exported[] {
  return parseAllDocuments(run.stdout)
    .map((doc) => doc.toJS() as Exported | null)
    .filter((o): o is Exported => o !== null);
}

const kinds = (objects: readonly Exported[]): string[] =>
  objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`);

const CONFIG = `kubeVersion: "1.29"
rules:
  malformed-pod-name: warning
  external-traffic-policy: "off"
preexistingViolations: enforce
labels:
  prefix: acme.example
  extra:
    - {key: example.com/owner, value: platform}
    - {key: example.com/team, fromStatefulSetLabel: team}
`;

describe("stsguard export-policies (built CLI)", () => {
  let fake: FakeApiServer;
  let work: { dir: string; remove: () => Promise<void> };
  const runs: Record<string, CliRun> = {};
  const run = (name: string): CliRun => {
    const result = runs[name];
    if (!result) throw new Error(`no run ${name}`);
    return result;
  };

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    fake.setVersion({ major: "1", minor: "34+", gitVersion: "v1.34.2-eks-1234" });
    work = await makeTempDir();
    await writeFile(path.join(work.dir, "stsguard.yaml"), CONFIG);
    await writeFile(path.join(work.dir, "kubeconfig.yaml"), renderKubeconfig(fake.url));
    await writeFile(path.join(work.dir, "down.yaml"), renderKubeconfig("http://127.0.0.1:9"));
    const cases: Record<string, string[]> = {
      v136: ["export-policies", "--kube-version", "1.36"],
      v130: ["export-policies", "--kube-version", "v1.30.4"],
      v128: ["export-policies", "--kube-version", "1.28"],
      v127: ["export-policies", "--kube-version", "1.27"],
      v126: ["export-policies", "--kube-version", "1.26"],
      v126config: ["export-policies", "--config", "stsguard.yaml", "--kube-version", "1.26"],
      v125: ["export-policies", "--kube-version", "1.25"],
      json: ["export-policies", "--kube-version", "1.33", "-o", "json"],
      onlyMutating: ["export-policies", "--kube-version", "1.36", "--only", "mutating"],
      onlyMutatingOld: ["export-policies", "--kube-version", "1.31", "--only", "mutating"],
      config: ["export-policies", "--config", "stsguard.yaml"],
      configAndFlag: ["export-policies", "--config", "stsguard.yaml", "--kube-version", "1.36"],
      cluster: ["export-policies", "--kubeconfig", "kubeconfig.yaml"],
      clusterDown: ["export-policies", "--kubeconfig", "down.yaml"],
      noVersion: ["export-policies"],
      badOutput: ["export-policies", "--kube-version", "1.30", "-o", "xml"],
    };
    const results = await Promise.all(
      Object.values(cases).map((args) => runBuiltCli(args, { cwd: work.dir })),
    );
    Object.keys(cases).forEach((name, i) => (runs[name] = results[i] as CliRun));
  }, 120_000);

  afterAll(async () => {
    await fake.close();
    await work.remove();
  });

  it("on 1.36 prints v1 policies and bindings of both kinds, each rule on its own", () => {
    expect(run("v136").code).toBe(0);
    expect(run("v136").stderr).toBe("");
    expect(kinds(parseYamlOutput(run("v136")))).toEqual([
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy stsguard-malformed-pod-name",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding stsguard-malformed-pod-name",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy stsguard-malformed-pod-name-preexisting",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding stsguard-malformed-pod-name-preexisting",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy stsguard-external-traffic-policy",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding stsguard-external-traffic-policy",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy stsguard-external-traffic-policy-preexisting",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding stsguard-external-traffic-policy-preexisting",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy stsguard-missing-labels",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding stsguard-missing-labels",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy stsguard-missing-labels-preexisting",
      "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding stsguard-missing-labels-preexisting",
      "admissionregistration.k8s.io/v1 MutatingAdmissionPolicy stsguard-external-traffic-policy",
      "admissionregistration.k8s.io/v1 MutatingAdmissionPolicyBinding stsguard-external-traffic-policy",
      "admissionregistration.k8s.io/v1 MutatingAdmissionPolicy stsguard-missing-labels",
      "admissionregistration.k8s.io/v1 MutatingAdmissionPolicyBinding stsguard-missing-labels",
    ]);
    const bindings = parseYamlOutput(run("v136")).filter(
      (o) => o.kind === "ValidatingAdmissionPolicyBinding",
    );
    expect(bindings.map((b) => b.spec["validationActions"])).toEqual([
      ["Deny"],
      ["Warn"],
      ["Deny"],
      ["Warn"],
      ["Deny"],
      ["Warn"],
    ]);
  });

  it("picks the API version each Kubernetes version serves, and says what it leaves out", () => {
    const apiVersions = (name: string): string[] => [
      ...new Set(parseYamlOutput(run(name)).map((o) => `${o.apiVersion} ${o.kind.slice(0, 8)}`)),
    ];
    expect(apiVersions("v130")).toEqual(["admissionregistration.k8s.io/v1 Validati"]);
    expect(run("v130").stderr).toBe(
      "stsguard: note: Kubernetes 1.30 serves no MutatingAdmissionPolicy (admissionregistration.k8s.io v1alpha1 from 1.32, v1beta1 from 1.34, v1 from 1.36): exporting the ValidatingAdmissionPolicies only\n",
    );
    expect(apiVersions("v128")).toEqual(["admissionregistration.k8s.io/v1beta1 Validati"]);
    expect(run("v128").stderr).toContain(
      "ValidatingAdmissionPolicy v1beta1 needs the feature gate ValidatingAdmissionPolicy and --runtime-config=admissionregistration.k8s.io/v1beta1=true",
    );
    expect(apiVersions("v127")).toEqual(["admissionregistration.k8s.io/v1alpha1 Validati"]);
    const json = JSON.parse(run("json").stdout) as { kind: string; items: Exported[] };
    expect(json.kind).toBe("List");
    expect([...new Set(json.items.map((o) => `${o.apiVersion} ${o.kind.slice(0, 8)}`))]).toEqual([
      "admissionregistration.k8s.io/v1 Validati",
      "admissionregistration.k8s.io/v1alpha1 Mutating",
    ]);
  });

  it("on 1.26 prints v1alpha1 policies that only deny, and says what 1.26 cannot express", () => {
    expect(run("v126").code).toBe(0);
    const objects = parseYamlOutput(run("v126"));
    expect(kinds(objects)).toEqual(
      ["malformed-pod-name", "external-traffic-policy", "missing-labels"].flatMap((rule) => [
        `admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy stsguard-${rule}`,
        `admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBinding stsguard-${rule}`,
      ]),
    );
    expect(objects.filter((o) => o.kind.endsWith("Binding")).map((o) => o.spec)).toEqual(
      ["malformed-pod-name", "external-traffic-policy", "missing-labels"].map((rule) => ({
        policyName: `stsguard-${rule}`,
      })),
    );
    const validations = objects.flatMap(
      (o) => (o.spec["validations"] ?? []) as Record<string, string>[],
    );
    expect(validations.map((v) => Object.keys(v).sort())).toEqual(
      Array(3).fill(["expression", "message", "reason"]),
    );
    expect(validations.map((v) => v["message"]?.split(":")[0])).toEqual([
      "malformed-pod-name",
      "external-traffic-policy",
      "missing-labels",
    ]);
    expect(run("v126").stderr).toContain(
      "stsguard: note: on Kubernetes 1.26, ValidatingAdmissionPolicy v1alpha1 needs the feature gate ValidatingAdmissionPolicy and --runtime-config=admissionregistration.k8s.io/v1alpha1=true",
    );
    expect(run("v126").stderr).toContain(
      "stsguard: note: on Kubernetes 1.26, an UPDATE of a Service that already broke malformed-pod-name, external-traffic-policy, missing-labels is allowed without the webhook's warning",
    );
    expect(run("v126").stderr).toContain("on Kubernetes 1.26 the messages are static");

    expect(run("v126config").code).toBe(0);
    expect(kinds(parseYamlOutput(run("v126config")))).toEqual([
      "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy stsguard-missing-labels",
      "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBinding stsguard-missing-labels",
    ]);
    expect(run("v126config").stdout).toContain(
      "(required: acme.example/statefulset=<statefulset> and acme.example/ordinal=<ordinal> from a well-formed statefulset.kubernetes.io/pod-name selector, example.com/owner=platform); add them to metadata.labels",
    );
    expect(run("v126config").stderr).toContain(
      "stsguard: note: left out malformed-pod-name (severity warning): Kubernetes 1.26's ValidatingAdmissionPolicy v1alpha1 has no validationActions, so it can only deny, never warn; only the webhook warns about them\n",
    );
    // preexistingViolations: enforce, so an UPDATE is judged like a CREATE: nothing to say.
    expect(run("v126config").stderr).not.toContain("UPDATE");
  });

  it("refuses versions without ValidatingAdmissionPolicy, and --only mutating without MAP", () => {
    expect(run("v125").code).toBe(2);
    expect(run("v125").stdout).toBe("");
    expect(run("v125").stderr).toBe(
      "stsguard: Kubernetes 1.25 serves no ValidatingAdmissionPolicy (admissionregistration.k8s.io v1alpha1 from 1.26, v1beta1 from 1.28, v1 from 1.30); use the webhook on this cluster\n",
    );
    expect(run("onlyMutatingOld").code).toBe(2);
    expect(run("onlyMutatingOld").stdout).toBe("");
    expect(run("onlyMutatingOld").stderr).toContain(
      "Kubernetes 1.31 serves no MutatingAdmissionPolicy",
    );
    expect(kinds(parseYamlOutput(run("onlyMutating"))).every((k) => k.includes("Mutating"))).toBe(
      true,
    );
  });

  it("follows the configuration: version, severities, prefix, fixed labels, preexisting", () => {
    expect(run("config").code).toBe(0);
    const objects = parseYamlOutput(run("config"));
    expect(kinds(objects)).toEqual([
      "admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicy stsguard-malformed-pod-name",
      "admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicyBinding stsguard-malformed-pod-name",
      "admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicy stsguard-missing-labels",
      "admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicyBinding stsguard-missing-labels",
    ]);
    expect(objects[1]?.spec["validationActions"]).toEqual(["Warn"]);
    expect(objects[3]?.spec["validationActions"]).toEqual(["Deny"]);
    const labels = JSON.stringify(objects[2]?.spec);
    expect(labels).toContain("'acme.example' + '/statefulset'");
    expect(labels).toContain("[['example.com/owner', 'platform']]");
    expect(labels).not.toContain("example.com/team");
    expect(run("config").stderr).toContain(
      "labels copied from a StatefulSet (example.com/team) cannot be checked in CEL",
    );
    expect(kinds(parseYamlOutput(run("configAndFlag")))[0]).toContain(
      "admissionregistration.k8s.io/v1 ",
    );
  });

  // The fake API server says 1.34 (EKS-style "34+"): v1beta1 MutatingAdmissionPolicy can only
  // come from it. Why a test API server: the real one of the e2e suite is 1.26 and cannot claim
  // another version.
  it("reads the version from the cluster with --cluster, and fails clearly when it cannot", () => {
    expect(run("cluster").stderr).toContain(
      "MutatingAdmissionPolicy v1beta1 needs the feature gate",
    );
    expect(run("cluster").code).toBe(0);
    expect(kinds(parseYamlOutput(run("cluster")))).toContain(
      "admissionregistration.k8s.io/v1beta1 MutatingAdmissionPolicy stsguard-missing-labels",
    );
    expect(run("clusterDown").code).toBe(2);
    expect(run("clusterDown").stderr).toContain("cannot read the Kubernetes version");
    expect(run("clusterDown").stdout).toBe("");
  });

  it("asks for a version rather than guessing one, and rejects unknown output formats", () => {
    expect(run("noVersion").code).toBe(2);
    expect(run("noVersion").stderr).toBe(
      "stsguard: export-policies needs the target Kubernetes version, which decides the policies' API versions: give --kube-version (e.g. 1.30), kubeVersion in --config, or --cluster\n",
    );
    expect(run("badOutput").code).toBe(2);
    expect(run("badOutput").stderr).toContain("xml");
  });
});
