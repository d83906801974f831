import { describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import {
  describeOrdinalRange,
  formatFinding,
  hasOrdinal,
  isExternallyAccessible,
  isStatefulSet,
  readPodNameSelector,
  summarizePerPodService,
  summarizeStatefulSet,
  withReplicas,
  type PerPodServiceSummary,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import { aService, aStatefulSet, deepFreeze, loadFixture } from "../helpers/objects.js";
import { aSummary } from "./engine-inputs.js";

describe("readPodNameSelector", () => {
  const rows: readonly { name: string; service: unknown; expected: { value: unknown } | null }[] = [
    { name: "a ClusterIP per-pod Service", service: aService(), expected: { value: "web-0" } },
    {
      name: "a LoadBalancer per-pod Service with more selector keys",
      service: aService({ type: "LoadBalancer", extraSelector: { app: "web" } }),
      expected: { value: "web-0" },
    },
    {
      name: "type unset counts as ClusterIP",
      service: aService({ type: null }),
      expected: { value: "web-0" },
    },
    {
      name: "a malformed value is still per-pod (the value is returned as is)",
      service: aService({ podName: "web-01" }),
      expected: { value: "web-01" },
    },
    {
      name: "a null value is still per-pod",
      service: aService({ podName: null }),
      expected: { value: null },
    },
    {
      name: "a number value is still per-pod",
      service: aService({ podName: 3 }),
      expected: { value: 3 },
    },
    {
      name: "ExternalName with the key is ignored (Kubernetes ignores its selector)",
      service: aService({ type: "ExternalName" }),
      expected: null,
    },
    {
      name: "a selector without the key",
      service: aService({ selector: { app: "web" } }),
      expected: null,
    },
    {
      name: "a selector that is a list",
      service: aService({ selector: [{ "statefulset.kubernetes.io/pod-name": "web-0" }] }),
      expected: null,
    },
    { name: "a null selector", service: aService({ selector: null }), expected: null },
    { name: "no selector", service: aService({ selector: undefined }), expected: null },
    { name: "no spec", service: { apiVersion: "v1", kind: "Service" }, expected: null },
    { name: "null", service: null, expected: null },
    { name: "a string", service: "web-0", expected: null },
  ];

  it.each(rows)("$name", ({ service, expected }) => {
    expect(readPodNameSelector(deepFreeze(service))).toEqual(expected);
  });
});

describe("summarizeStatefulSet", () => {
  const web = (over: Partial<StatefulSetSummary>): StatefulSetSummary => ({
    namespace: "demo",
    name: "web",
    replicas: 2,
    start: 0,
    podLabels: { app: "web" },
    labels: {},
    serviceName: "web",
    ...over,
  });
  const rows: readonly {
    name: string;
    obj: unknown;
    defaultNamespace?: string;
    expected: StatefulSetSummary | null;
  }[] = [
    { name: "replicas 2, no ordinals", obj: aStatefulSet(), expected: web({}) },
    {
      name: "replicas unset defaults to 1, and says so",
      obj: aStatefulSet({ noReplicas: true }),
      expected: web({ replicas: 1, replicasUnset: true }),
    },
    {
      name: "replicas 0 stays 0",
      obj: aStatefulSet({ replicas: 0 }),
      expected: web({ replicas: 0 }),
    },
    {
      name: "replicas null defaults to 1, and says so",
      obj: aStatefulSet({ replicas: null }),
      expected: web({ replicas: 1, replicasUnset: true }),
    },
    {
      name: "negative replicas default to 1",
      obj: aStatefulSet({ replicas: -1 }),
      expected: web({ replicas: 1 }),
    },
    {
      name: "fractional replicas default to 1",
      obj: aStatefulSet({ replicas: 1.5 }),
      expected: web({ replicas: 1 }),
    },
    {
      name: "string replicas default to 1",
      obj: aStatefulSet({ replicas: "3" }),
      expected: web({ replicas: 1 }),
    },
    { name: "ordinals {} means start 0", obj: aStatefulSet({ ordinals: {} }), expected: web({}) },
    {
      name: "ordinals.start 5",
      obj: aStatefulSet({ ordinals: { start: 5 } }),
      expected: web({ start: 5 }),
    },
    {
      name: "ordinals null means start 0",
      obj: aStatefulSet({ ordinals: null }),
      expected: web({}),
    },
    {
      name: "a negative ordinals.start defaults to 0",
      obj: aStatefulSet({ ordinals: { start: -1 } }),
      expected: web({}),
    },
    {
      name: "no namespace takes the default namespace",
      obj: aStatefulSet({ namespace: null }),
      defaultNamespace: "ci",
      expected: web({ namespace: "ci" }),
    },
    {
      name: "an empty namespace takes the default namespace",
      obj: aStatefulSet({ namespace: "" }),
      defaultNamespace: "ci",
      expected: web({ namespace: "ci" }),
    },
    {
      name: "metadata labels and pod template labels are kept apart; non-strings dropped",
      obj: aStatefulSet({
        labels: { team: "payments", count: 3 },
        podLabels: { app: "web", tier: "db", weird: null },
      }),
      expected: web({ labels: { team: "payments" }, podLabels: { app: "web", tier: "db" } }),
    },
    {
      name: "a Deployment is not a StatefulSet",
      obj: aStatefulSet({ kind: "Deployment" }),
      expected: null,
    },
    {
      name: "apps/v1beta1 (removed in 1.16, still in old charts) is read all the same",
      obj: aStatefulSet({ apiVersion: "apps/v1beta1" }),
      expected: web({}),
    },
    {
      name: "apps/v1beta2 is read all the same",
      obj: aStatefulSet({ apiVersion: "apps/v1beta2" }),
      expected: web({}),
    },
    {
      name: "extensions/v1beta1 never had StatefulSets",
      obj: aStatefulSet({ apiVersion: "extensions/v1beta1" }),
      expected: null,
    },
    {
      name: "a StatefulSet kind in another group (a CRD) is not one",
      obj: aStatefulSet({ apiVersion: "apps.kruise.io/v1beta1" }),
      expected: null,
    },
    {
      name: "a StatefulSet without a name",
      obj: { apiVersion: "apps/v1", kind: "StatefulSet", metadata: {}, spec: {} },
      expected: null,
    },
    { name: "null", obj: null, expected: null },
    { name: "a list", obj: [aStatefulSet()], expected: null },
  ];

  it.each(rows)("$name", ({ obj, defaultNamespace, expected }) => {
    expect(summarizeStatefulSet(deepFreeze(obj), defaultNamespace ?? "default")).toEqual(expected);
  });

  it("reads the recorded StatefulSet with ordinals.start 5", () => {
    const review = loadFixture("statefulset-create-ordinals-start-5.at-mutating");
    expect(summarizeStatefulSet(review.request.object, "default")).toEqual({
      namespace: "demo",
      name: "db",
      replicas: 2,
      start: 5,
      podLabels: { app: "db" },
      labels: {},
      serviceName: "db",
    });
  });

  it("does not take a Scale (statefulsets/scale) for a StatefulSet", () => {
    const review = loadFixture("statefulset-scale-update.at-mutating");
    expect(isStatefulSet(review.request.object)).toBe(false);
    expect(summarizeStatefulSet(review.request.object, "demo")).toBeNull();
  });
});

describe("withReplicas", () => {
  it("changes only replicas and leaves the input alone", () => {
    const sts = aSummary({ start: 5, replicas: 3 });
    expect(withReplicas(sts, 1)).toEqual({ ...sts, replicas: 1 });
    expect(sts.replicas).toBe(3);
  });
});

describe("hasOrdinal and describeOrdinalRange", () => {
  const rows: readonly {
    name: string;
    sts: StatefulSetSummary;
    inRange: number[];
    outOfRange: number[];
    text: string;
  }[] = [
    {
      name: "replicas 2 from 0",
      sts: aSummary(),
      inRange: [0, 1],
      outOfRange: [2, 3],
      text: "2 replicas (ordinals 0-1)",
    },
    {
      name: "replicas 2 from 5",
      sts: aSummary({ start: 5 }),
      inRange: [5, 6],
      outOfRange: [0, 4, 7],
      text: "2 replicas (ordinals 5-6)",
    },
    {
      name: "one replica",
      sts: aSummary({ replicas: 1 }),
      inRange: [0],
      outOfRange: [1],
      text: "1 replica (ordinal 0)",
    },
    {
      name: "no replicas",
      sts: aSummary({ replicas: 0 }),
      inRange: [],
      outOfRange: [0, 1],
      text: "0 replicas (no pods)",
    },
  ];

  it.each(rows)("$name", ({ sts, inRange, outOfRange, text }) => {
    for (const ordinal of inRange) expect(hasOrdinal(sts, ordinal)).toBe(true);
    for (const ordinal of outOfRange) expect(hasOrdinal(sts, ordinal)).toBe(false);
    expect(describeOrdinalRange(sts)).toBe(text);
  });
});

describe("summarizePerPodService", () => {
  const rows: readonly { name: string; obj: unknown; expected: PerPodServiceSummary | null }[] = [
    {
      name: "a per-pod Service",
      obj: aService({ podName: "redis-2-1", name: "redis-1-external" }),
      expected: {
        namespace: "demo",
        name: "redis-1-external",
        target: { statefulSet: "redis-2", ordinal: 1 },
      },
    },
    {
      name: "no namespace takes the default",
      obj: aService({ namespace: null }),
      expected: { namespace: "ci", name: "web-0", target: { statefulSet: "web", ordinal: 0 } },
    },
    { name: "a malformed target", obj: aService({ podName: "web-01" }), expected: null },
    { name: "an ExternalName Service", obj: aService({ type: "ExternalName" }), expected: null },
    {
      name: "a Service selecting by app",
      obj: aService({ selector: { app: "web" } }),
      expected: null,
    },
    {
      name: "not a Service (a ReplicationController with the same selector)",
      obj: { ...aService(), apiVersion: "v1", kind: "ReplicationController" },
      expected: null,
    },
    {
      name: "a Service without a name",
      obj: { kind: "Service", metadata: {}, spec: aService()["spec"] },
      expected: null,
    },
  ];

  it.each(rows)("$name", ({ obj, expected }) => {
    expect(summarizePerPodService(deepFreeze(obj), "ci")).toEqual(expected);
  });
});

describe("isExternallyAccessible", () => {
  const ips = ["192.0.2.10"];
  const rows: readonly { name: string; service: unknown; yes: string[]; no: string[] }[] = [
    {
      name: "LoadBalancer",
      service: aService({ type: "LoadBalancer" }),
      yes: ["1.24", "1.36"],
      no: [],
    },
    { name: "NodePort", service: aService({ type: "NodePort" }), yes: ["1.24", "1.36"], no: [] },
    { name: "ClusterIP", service: aService(), yes: [], no: ["1.28", "1.29", "1.36"] },
    {
      name: "ClusterIP with externalIPs (only from 1.29)",
      service: aService({ externalIPs: ips }),
      yes: ["1.29", "1.30", "1.36", "2.0"],
      no: ["1.24", "1.26", "1.28"],
    },
    {
      name: "type unset with externalIPs counts as ClusterIP",
      service: aService({ type: null, externalIPs: ips }),
      yes: ["1.29"],
      no: ["1.28"],
    },
    {
      name: "headless with externalIPs counts as ClusterIP",
      service: aService({ clusterIP: "None", externalIPs: ips }),
      yes: ["1.29"],
      no: ["1.28"],
    },
    {
      name: "ClusterIP with an empty externalIPs list",
      service: aService({ externalIPs: [] }),
      yes: [],
      no: ["1.29", "1.36"],
    },
    {
      name: "ExternalName with externalIPs is never",
      service: aService({ type: "ExternalName", externalIPs: ips }),
      yes: [],
      no: ["1.26", "1.36"],
    },
    { name: "no spec", service: { kind: "Service" }, yes: [], no: ["1.36"] },
  ];

  it.each(rows)("$name", ({ service, yes, no }) => {
    for (const version of yes) {
      expect(isExternallyAccessible(service, parseKubeVersion(version)), version).toBe(true);
    }
    for (const version of no) {
      expect(isExternallyAccessible(service, parseKubeVersion(version)), version).toBe(false);
    }
  });
});

describe("formatFinding", () => {
  it("puts the rule id first", () => {
    expect(
      formatFinding({
        rule: "ordinal-out-of-range",
        severity: "error",
        message: "Service demo/web-3 selects pod web-3",
        fixable: false,
        path: ["spec", "selector"],
      }),
    ).toBe("ordinal-out-of-range: Service demo/web-3 selects pod web-3");
  });
});
