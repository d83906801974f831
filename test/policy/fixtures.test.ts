import jsonpatch, { type Operation as PatchOperation } from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { evaluateService } from "../../src/policy/index.js";
import { deepFreeze, listFixtures, loadFixture, stsguardLabels } from "../helpers/objects.js";
import { found, policyWith } from "./engine-inputs.js";

// Every Service request recorded from kube-apiserver 1.26, evaluated as the webhook would with
// StatefulSet demo/web (2 replicas, pods `app: web`) found and kubeVersion 1.26. Written by hand
// from reading each fixture.

interface Expectation {
  readonly perPod: boolean;
  /** `<rule>:<severity>`, in any order. */
  readonly findings: readonly string[];
  readonly patch: readonly PatchOperation[];
}

const ETP_LOCAL: PatchOperation = {
  op: "replace",
  path: "/spec/externalTrafficPolicy",
  value: "Local",
};
const addLabels = (pod: string): PatchOperation[] =>
  Object.entries(stsguardLabels(pod)).map(([key, value]) => ({
    op: "add",
    path: `/metadata/labels/${key.replace("/", "~1")}`,
    value,
  }));
const notPerPod: Expectation = { perPod: false, findings: [], patch: [] };
const labelsOnly = (pod: string): Expectation => ({
  perPod: true,
  findings: ["missing-labels:error"],
  patch: addLabels(pod),
});
const policyAndLabels = (pod: string): Expectation => ({
  perPod: true,
  findings: ["external-traffic-policy:error", "missing-labels:error"],
  patch: [ETP_LOCAL, ...addLabels(pod)],
});

const expectations: Readonly<Record<string, Expectation>> = {
  // ClusterIP with externalIPs is not externally accessible before 1.29: labels only.
  "service-create-clusterip-externalips.at-mutating": labelsOnly("web-0"),
  "service-create-clusterip-externalips.at-validating": labelsOnly("web-0"),
  "service-create-clusterip.at-mutating": labelsOnly("web-0"),
  "service-create-clusterip.at-validating": labelsOnly("web-0"),
  "service-create-dryrun-with-mutation.at-mutating": labelsOnly("web-0"),
  // Another webhook's `mutated: yes` label is there at validating time; ours are still missing.
  "service-create-dryrun-with-mutation.at-validating": labelsOnly("web-0"),
  "service-create-dryrun.at-mutating": policyAndLabels("web-1"),
  "service-create-dryrun.at-validating": policyAndLabels("web-1"),
  "service-create-externalname.at-mutating": notPerPod,
  "service-create-externalname.at-validating": notPerPod,
  // The headless governing Service selects app=web: not per-pod.
  "service-create-headless.at-mutating": notPerPod,
  "service-create-headless.at-validating": notPerPod,
  "service-create-loadbalancer-etp-local.at-mutating": labelsOnly("web-1"),
  "service-create-loadbalancer-etp-local.at-validating": labelsOnly("web-1"),
  // ETP is already defaulted to Cluster at mutating time.
  "service-create-loadbalancer.at-mutating": policyAndLabels("web-0"),
  "service-create-loadbalancer.at-validating": policyAndLabels("web-0"),
  "service-create-no-labels.at-mutating": {
    perPod: true,
    findings: ["external-traffic-policy:error", "missing-labels:error"],
    patch: [ETP_LOCAL, { op: "add", path: "/metadata/labels", value: stsguardLabels("web-1") }],
  },
  "service-create-no-labels.at-validating": {
    perPod: true,
    findings: ["external-traffic-policy:error", "missing-labels:error"],
    patch: [ETP_LOCAL, { op: "add", path: "/metadata/labels", value: stsguardLabels("web-1") }],
  },
  "service-create-nodeport.at-mutating": policyAndLabels("web-0"),
  "service-create-nodeport.at-validating": policyAndLabels("web-0"),
  "service-create-server-side-apply.at-mutating": policyAndLabels("web-0"),
  "service-create-server-side-apply.at-validating": policyAndLabels("web-0"),
  // DELETE: `object` is null.
  "service-delete.at-mutating": notPerPod,
  "service-delete.at-validating": notPerPod,
  // The old LoadBalancer already had Cluster and no stsguard labels: both only warn.
  "service-update-apply.at-mutating": {
    perPod: true,
    findings: ["external-traffic-policy:warning", "missing-labels:warning"],
    patch: [ETP_LOCAL, ...addLabels("web-0")],
  },
  "service-update-apply.at-validating": {
    perPod: true,
    findings: ["external-traffic-policy:warning", "missing-labels:warning"],
    patch: [ETP_LOCAL, ...addLabels("web-0")],
  },
  // Local → Cluster is a new violation: error.
  "service-update-json-patch-etp.at-mutating": {
    perPod: true,
    findings: ["external-traffic-policy:error", "missing-labels:warning"],
    patch: [ETP_LOCAL, ...addLabels("web-1")],
  },
  "service-update-json-patch-etp.at-validating": {
    perPod: true,
    findings: ["external-traffic-policy:error", "missing-labels:warning"],
    patch: [ETP_LOCAL, ...addLabels("web-1")],
  },
  "service-update-merge-patch.at-mutating": {
    perPod: true,
    findings: ["missing-labels:warning"],
    patch: addLabels("web-0"),
  },
  "service-update-merge-patch.at-validating": {
    perPod: true,
    findings: ["missing-labels:warning"],
    patch: addLabels("web-0"),
  },
  // The old ClusterIP with externalIPs was not externally accessible on 1.26: error.
  "service-update-type-clusterip-to-loadbalancer.at-mutating": {
    perPod: true,
    findings: ["external-traffic-policy:error", "missing-labels:warning"],
    patch: [ETP_LOCAL, ...addLabels("web-0")],
  },
  "service-update-type-clusterip-to-loadbalancer.at-validating": {
    perPod: true,
    findings: ["external-traffic-policy:error", "missing-labels:warning"],
    patch: [ETP_LOCAL, ...addLabels("web-0")],
  },
  // The stale ETP Cluster at mutating time is left for the API server to drop.
  "service-update-type-loadbalancer-to-clusterip.at-mutating": {
    perPod: true,
    findings: ["missing-labels:warning"],
    patch: addLabels("web-1"),
  },
  "service-update-type-loadbalancer-to-clusterip.at-validating": {
    perPod: true,
    findings: ["missing-labels:warning"],
    patch: addLabels("web-1"),
  },
};

const sortOps = (ops: readonly PatchOperation[]): PatchOperation[] =>
  [...ops].sort((a, b) => a.path.localeCompare(b.path) || a.op.localeCompare(b.op));

describe("recorded Service AdmissionReviews (kube-apiserver 1.26)", () => {
  it("has an expectation for every recorded Service request, and no other", () => {
    expect(Object.keys(expectations).sort()).toEqual(listFixtures("service-"));
  });

  it.each(Object.entries(expectations).map(([name, expected]) => ({ name, expected })))(
    "$name",
    ({ name, expected }) => {
      const { request } = loadFixture(name);
      const service = deepFreeze(request.object);
      const result = evaluateService(
        service,
        {
          operation: request.operation === "UPDATE" ? "UPDATE" : "CREATE",
          lookup: found({ labels: { app: "web" } }),
          oldService: deepFreeze(request.oldObject),
        },
        policyWith({ kubeVersion: "1.26" }),
      );
      expect(result.perPod).toBe(expected.perPod);
      expect(result.findings.map((f) => `${f.rule}:${f.severity}`).sort()).toEqual(
        [...expected.findings].sort(),
      );
      if (expected.patch.length === 0) {
        expect(result.fixed).toBe(service);
      } else {
        const operations = jsonpatch.compare(service as object, result.fixed as object);
        expect(sortOps(operations)).toEqual(sortOps(expected.patch));
      }
    },
  );
});
