/**
 * The Services every exported rule must admit and deny on Kubernetes 1.26, on CREATE and on
 * UPDATE, shared by the test of `stsguard export-policies` and of the chart's policy template.
 * Each case names the rules whose policy must deny it (none: admitted); the test also asks the
 * engine (the webhook's verdict, StatefulSet unknown) and requires the same rules.
 */
import type { SelfContainedRule } from "../../../src/policy-export/index.js";
import { serviceOf, type ApiObject, type ServiceSpec } from "./policies.js";

export interface CreateCase {
  readonly name: string;
  readonly service: ServiceSpec;
  /** The rules that deny it; empty: admitted. */
  readonly denies: readonly SelfContainedRule[];
}

const LONG = "a".repeat(61);

export const CREATE_CASES: readonly CreateCase[] = [
  // The failure that started it: both required labels, Local, a LoadBalancer.
  { name: "web-1", service: { name: "web-1" }, denies: [] },
  { name: "NodePort Local", service: { name: "web-2", type: "NodePort" }, denies: [] },
  { name: "ClusterIP, right labels", service: { name: "web-3", type: "ClusterIP" }, denies: [] },
  {
    name: "headless, right labels",
    service: { name: "web-4", type: "ClusterIP", clusterIP: "None" },
    denies: [],
  },
  {
    name: "ClusterIP with externalIPs (not externally accessible on 1.26)",
    service: { name: "web-5", type: "ClusterIP", externalIPs: ["192.0.2.10"] },
    denies: [],
  },
  {
    name: "a pod-index key beside the pod name",
    service: { name: "web-6", extraSelector: { "apps.kubernetes.io/pod-index": "6" } },
    denies: [],
  },
  // StatefulSets whose names end in digits: the split is at the last dash.
  { name: "redis-2-0", service: { name: "redis-2-0" }, denies: [] },
  { name: "redis-2-10", service: { name: "redis-2-10" }, denies: [] },
  { name: "0-0", service: { name: "n-0-0", podName: "0-0" }, denies: [] },
  {
    name: "redis-2-0 labelled as StatefulSet redis, ordinal 2-0",
    service: {
      name: "redis-2-0",
      labels: { "stsguard.io/statefulset": "redis", "stsguard.io/ordinal": "2-0" },
    },
    denies: ["missing-labels"],
  },
  {
    name: "redis-2-0 labelled as StatefulSet redis-2-0, ordinal empty",
    service: {
      name: "redis-2-0",
      labels: { "stsguard.io/statefulset": "redis-2-0", "stsguard.io/ordinal": "" },
    },
    denies: ["missing-labels"],
  },
  {
    name: "redis-2-0 with ordinal label 00",
    service: {
      name: "redis-2-0",
      labels: { "stsguard.io/statefulset": "redis-2", "stsguard.io/ordinal": "00" },
    },
    denies: ["missing-labels"],
  },
  {
    name: "the ordinal label of another pod",
    service: {
      name: "web-1",
      labels: { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": "2" },
    },
    denies: ["missing-labels"],
  },
  {
    name: "the StatefulSet label of another StatefulSet",
    service: {
      name: "web-1",
      labels: { "stsguard.io/statefulset": "db", "stsguard.io/ordinal": "1" },
    },
    denies: ["missing-labels"],
  },
  {
    name: "only the StatefulSet label",
    service: { name: "web-1", labels: { "stsguard.io/statefulset": "web" } },
    denies: ["missing-labels"],
  },
  {
    name: "no labels, ClusterIP",
    service: { name: "web-1", type: "ClusterIP", labels: null },
    denies: ["missing-labels"],
  },
  {
    name: "no labels, headless",
    service: { name: "web-1", type: "ClusterIP", clusterIP: "None", labels: null },
    denies: ["missing-labels"],
  },
  // externalTrafficPolicy
  {
    name: "LoadBalancer Cluster",
    service: { name: "web-1", externalTrafficPolicy: "Cluster" },
    denies: ["external-traffic-policy"],
  },
  {
    name: "LoadBalancer without externalTrafficPolicy (the API server defaults Cluster)",
    service: { name: "web-1", externalTrafficPolicy: null },
    denies: ["external-traffic-policy"],
  },
  {
    name: "NodePort Cluster",
    service: { name: "web-1", type: "NodePort", externalTrafficPolicy: "Cluster" },
    denies: ["external-traffic-policy"],
  },
  // malformed targets (no stsguard labels are required of them)
  {
    name: "leading zero web-01",
    service: { name: "w", podName: "web-01", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "upper case Web-0",
    service: { name: "w", podName: "Web-0", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "underscore web_0",
    service: { name: "w", podName: "web_0", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "no dash",
    service: { name: "w", podName: "web0", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "empty value",
    service: { name: "w", podName: "", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "only an ordinal",
    service: { name: "w", podName: "0", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "ordinal 2147483648 (beyond int32)",
    service: { name: "w", podName: "web-2147483648", labels: null },
    denies: ["malformed-pod-name"],
  },
  {
    name: "ordinal 10000000000",
    service: { name: "w", podName: "web-10000000000", labels: null },
    denies: ["malformed-pod-name"],
  },
  { name: "ordinal 2147483647", service: { name: "w", podName: "web-2147483647" }, denies: [] },
  { name: "63 characters", service: { name: "w", podName: `${LONG}-0` }, denies: [] },
  {
    name: "malformed and Cluster: two rules",
    service: { name: "w", podName: "web-01", labels: null, externalTrafficPolicy: "Cluster" },
    denies: ["malformed-pod-name", "external-traffic-policy"],
  },
  {
    name: "Cluster and no labels: two rules",
    service: { name: "web-1", labels: null, externalTrafficPolicy: "Cluster" },
    denies: ["external-traffic-policy", "missing-labels"],
  },
  // not per-pod Services: never judged
  {
    name: "ExternalName with a malformed pod-name selector",
    service: { name: "w", type: "ExternalName", podName: "web-01", labels: null },
    denies: [],
  },
  {
    name: "ClusterIP selecting by app",
    service: {
      name: "w",
      type: "ClusterIP",
      podName: null,
      extraSelector: { app: "web" },
      labels: null,
    },
    denies: [],
  },
  {
    name: "LoadBalancer Cluster selecting by app",
    service: {
      name: "w",
      podName: null,
      extraSelector: { app: "web" },
      labels: null,
      externalTrafficPolicy: "Cluster",
    },
    denies: [],
  },
  {
    name: "headless without a selector",
    service: { name: "w", type: "ClusterIP", clusterIP: "None", podName: null, labels: null },
    denies: [],
  },
];

/** Stored before any policy exists: some already break a rule. */
export const STORED: readonly { readonly name: string; readonly service: ServiceSpec }[] = [
  { name: "good-0", service: { name: "good-0" } },
  { name: "old-etp-0", service: { name: "old-etp-0", externalTrafficPolicy: "Cluster" } },
  { name: "old-labels-0", service: { name: "old-labels-0", labels: null } },
  { name: "old-malformed", service: { name: "old-malformed", podName: "web-01", labels: null } },
  {
    name: "plain",
    service: {
      name: "plain",
      type: "ClusterIP",
      podName: null,
      extraSelector: { app: "web" },
      labels: null,
    },
  },
];

export interface UpdateCase {
  readonly name: string;
  /** The stored Service to update. */
  readonly stored: string;
  /** Changes the stored object (a deep copy) into the new one. */
  readonly change: (service: MutableService) => void;
  readonly denies: readonly SelfContainedRule[];
}

export interface MutableService {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown> & { selector?: Record<string, string> };
}

const annotate = (service: MutableService): void => {
  service.metadata.annotations = { ...service.metadata.annotations, "example.com/touched": "yes" };
};

export const UPDATE_CASES: readonly UpdateCase[] = [
  // Rules the stored object already broke only warn in the webhook: the policies allow them.
  {
    name: "an annotation on a Service that already had Cluster",
    stored: "old-etp-0",
    change: annotate,
    denies: [],
  },
  {
    name: "an annotation on a Service that already lacked labels",
    stored: "old-labels-0",
    change: annotate,
    denies: [],
  },
  {
    name: "an annotation on a Service whose target was already malformed",
    stored: "old-malformed",
    change: annotate,
    denies: [],
  },
  {
    name: "fixing Cluster to Local",
    stored: "old-etp-0",
    change: (s) => {
      s.spec["externalTrafficPolicy"] = "Local";
    },
    denies: [],
  },
  // What the update breaks anew is denied as on CREATE.
  {
    name: "a Service that already had Cluster loses its labels",
    stored: "old-etp-0",
    change: (s) => {
      delete s.metadata.labels;
    },
    denies: ["missing-labels"],
  },
  {
    name: "a compliant Service switched to Cluster",
    stored: "good-0",
    change: (s) => {
      s.spec["externalTrafficPolicy"] = "Cluster";
    },
    denies: ["external-traffic-policy"],
  },
  {
    name: "a compliant Service loses a label",
    stored: "good-0",
    change: (s) => {
      delete s.metadata.labels?.["stsguard.io/ordinal"];
    },
    denies: ["missing-labels"],
  },
  {
    name: "a compliant Service retargeted to web-01",
    stored: "good-0",
    change: (s) => {
      s.spec.selector = { "statefulset.kubernetes.io/pod-name": "web-01" };
      delete s.metadata.labels;
    },
    denies: ["malformed-pod-name"],
  },
  {
    name: "a compliant Service retargeted to redis-2-0 with its labels",
    stored: "good-0",
    change: (s) => {
      s.spec.selector = { "statefulset.kubernetes.io/pod-name": "redis-2-0" };
      s.metadata.labels = { "stsguard.io/statefulset": "redis-2", "stsguard.io/ordinal": "0" };
    },
    denies: [],
  },
  {
    name: "a plain Service becomes per-pod without labels (nothing pre-existing)",
    stored: "plain",
    change: (s) => {
      s.spec.selector = { "statefulset.kubernetes.io/pod-name": "web-0" };
    },
    denies: ["missing-labels"],
  },
  {
    name: "a per-pod Service becomes plain",
    stored: "old-etp-0",
    change: (s) => {
      s.spec.selector = { app: "web" };
      delete s.metadata.labels;
    },
    denies: [],
  },
];

export function storedObjects(): ApiObject[] {
  return STORED.map((entry) => serviceOf(entry.service));
}
