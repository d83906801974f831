import jsonpatch, { type Operation as PatchOperation } from "fast-json-patch";
import { describe, expect, it } from "vitest";
import {
  evaluateService,
  summarizeStatefulSet,
  type Finding,
  type Operation,
  type RuleId,
  type StatefulSetLookup,
} from "../../src/policy/index.js";
import {
  aService,
  aStatefulSet,
  deepFreeze,
  loadFixture,
  stsguardLabels,
} from "../helpers/objects.js";
import { found, notFound, policyWith, unavailable, type PolicyOverrides } from "./engine-inputs.js";

interface Row {
  readonly name: string;
  readonly service: unknown;
  /** Default: StatefulSet web found, 2 replicas from 0, pods `app: web`, labels `team: payments`. */
  readonly lookup?: StatefulSetLookup;
  readonly operation?: Operation;
  readonly oldService?: unknown;
  readonly namespace?: string;
  readonly config?: PolicyOverrides;
  /** Default true. */
  readonly perPod?: boolean;
  /** `<rule>:<severity>`, in any order. */
  readonly findings: readonly string[];
  /** What compare(input, fixed) must give, in any order; [] means `fixed` is the input itself. */
  readonly patch: readonly PatchOperation[];
  /** Substrings that some finding's message must contain. */
  readonly messages?: readonly string[];
  /** Substrings that no finding's message may contain. */
  readonly absentMessages?: readonly string[];
  readonly paths?: Partial<Record<RuleId, readonly (string | number)[]>>;
}

const IPS = ["192.0.2.10"];
const ETP_PATH = "/spec/externalTrafficPolicy";
const setLocal = (op: "add" | "replace"): PatchOperation => ({
  op,
  path: ETP_PATH,
  value: "Local",
});
// Written out by hand (RFC 6901) rather than with the library's escaping, so a wrong escape fails.
const toPointerToken = (key: string): string => key.replaceAll("~", "~0").replaceAll("/", "~1");
const addLabel = (key: string, value: string): PatchOperation => ({
  op: "add",
  path: `/metadata/labels/${toPointerToken(key)}`,
  value,
});
const addStsguardLabels = (pod: string, prefix?: string): PatchOperation[] =>
  Object.entries(stsguardLabels(pod, prefix)).map(([key, value]) => addLabel(key, value));
const LABELS_NONE = { app: "web" };
const OWNER = { key: "example.com/owner", value: "platform" } as const;
const TEAM = { key: "example.com/team", fromStatefulSetLabel: "team" } as const;
const NOTE = "already so before this update";

const ordinalRows: Row[] = [
  { name: "web-0 with replicas 2 is allowed", service: aService(), findings: [], patch: [] },
  {
    name: "web-1 with replicas 2 is allowed (last ordinal)",
    service: aService({ podName: "web-1" }),
    findings: [],
    patch: [],
  },
  {
    name: "web-2 with replicas 2 is out of range",
    service: aService({ podName: "web-2" }),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
    messages: ["Service demo/web-2", "web-2", "2 replicas (ordinals 0-1)"],
    paths: { "ordinal-out-of-range": ["spec", "selector", "statefulset.kubernetes.io/pod-name"] },
  },
  {
    name: "ordinals.start 5 with replicas 2: db-4 is out of range",
    service: aService({ podName: "db-4" }),
    lookup: found({ name: "db", start: 5 }),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
    messages: ["ordinals 5-6"],
  },
  {
    name: "ordinals.start 5 with replicas 2: db-5 is allowed",
    service: aService({ podName: "db-5" }),
    lookup: found({ name: "db", start: 5 }),
    findings: [],
    patch: [],
  },
  {
    name: "ordinals.start 5 with replicas 2: db-6 is allowed",
    service: aService({ podName: "db-6" }),
    lookup: found({ name: "db", start: 5 }),
    findings: [],
    patch: [],
  },
  {
    name: "ordinals.start 5 with replicas 2: db-7 is out of range",
    service: aService({ podName: "db-7" }),
    lookup: found({ name: "db", start: 5 }),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
  },
  {
    name: "replicas unset means 1: web-0 is allowed",
    service: aService(),
    lookup: lookupOf(aStatefulSet({ noReplicas: true })),
    findings: [],
    patch: [],
  },
  {
    name: "replicas unset means 1: web-1 is out of range",
    service: aService({ podName: "web-1" }),
    lookup: lookupOf(aStatefulSet({ noReplicas: true })),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
    messages: ["1 replica (ordinal 0)"],
  },
  {
    name: "replicas 0: even web-0 is out of range",
    service: aService(),
    lookup: found({ replicas: 0 }),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
    messages: ["0 replicas"],
  },
  {
    name: "redis-2-0 selects StatefulSet redis-2",
    service: aService({ podName: "redis-2-0" }),
    lookup: found({ name: "redis-2", replicas: 1 }),
    findings: [],
    patch: [],
  },
  {
    name: "redis-2-0 without labels is labelled statefulset=redis-2, ordinal=0",
    service: aService({ podName: "redis-2-0", noLabels: true }),
    lookup: found({ name: "redis-2", replicas: 1 }),
    findings: ["missing-labels:error"],
    patch: [
      {
        op: "add",
        path: "/metadata/labels",
        value: { "stsguard.io/statefulset": "redis-2", "stsguard.io/ordinal": "0" },
      },
    ],
  },
  {
    name: "StatefulSet redis-2 not found: a warning that names redis-2",
    service: aService({ podName: "redis-2-0" }),
    lookup: notFound,
    findings: ["statefulset-not-found:warning"],
    patch: [],
    messages: ["StatefulSet redis-2 does not exist in namespace demo"],
  },
];

const malformedRows: Row[] = [
  {
    name: "leading zero web-01 is malformed, and no StatefulSet rule runs",
    service: aService({ podName: "web-01", labels: LABELS_NONE }),
    lookup: found({ replicas: 0, podLabels: {} }),
    findings: ["malformed-pod-name:error"],
    patch: [],
    messages: ['"web-01"'],
    paths: { "malformed-pod-name": ["spec", "selector", "statefulset.kubernetes.io/pod-name"] },
  },
  {
    name: "Web-0 is malformed",
    service: aService({ podName: "Web-0", labels: LABELS_NONE }),
    findings: ["malformed-pod-name:error"],
    patch: [],
  },
  {
    name: "a number value is malformed",
    service: aService({ podName: 0, labels: LABELS_NONE }),
    findings: ["malformed-pod-name:error"],
    patch: [],
  },
  {
    name: "a null value is malformed",
    service: aService({ podName: null, labels: LABELS_NONE }),
    findings: ["malformed-pod-name:error"],
    patch: [],
    messages: ["null"],
  },
  {
    name: "a malformed per-pod Service still gets fixed extra labels, not stsguard.io ones",
    service: aService({ podName: "web-01", noLabels: true }),
    lookup: notFound,
    config: { extraLabels: [OWNER, TEAM] },
    findings: ["malformed-pod-name:error", "missing-labels:error"],
    patch: [{ op: "add", path: "/metadata/labels", value: { "example.com/owner": "platform" } }],
  },
];

const detectionRows: Row[] = [
  {
    name: "ExternalName with a pod-name selector is ignored",
    service: aService({ type: "ExternalName", podName: "web-9", noLabels: true }),
    perPod: false,
    findings: [],
    patch: [],
  },
  {
    name: "a Service selecting by app only is not per-pod",
    service: aService({ type: "LoadBalancer", selector: { app: "web" }, noLabels: true }),
    perPod: false,
    findings: [],
    patch: [],
  },
  {
    name: "a selector that is a list is not per-pod",
    service: aService({ selector: [{ "statefulset.kubernetes.io/pod-name": "web-9" }] }),
    perPod: false,
    findings: [],
    patch: [],
  },
  {
    name: "a null selector is not per-pod",
    service: aService({ selector: null, noLabels: true }),
    perPod: false,
    findings: [],
    patch: [],
  },
  {
    name: "null is not a Service",
    service: null,
    perPod: false,
    findings: [],
    patch: [],
  },
  {
    name: "type unset is a per-pod ClusterIP Service",
    service: aService({ type: null, noLabels: true }),
    findings: ["missing-labels:error"],
    patch: [{ op: "add", path: "/metadata/labels", value: stsguardLabels("web-0") }],
  },
];

const selectorRows: Row[] = [
  {
    name: "an extra selector key matching the pod template labels is fine",
    service: aService({ extraSelector: { app: "web" } }),
    findings: [],
    patch: [],
  },
  {
    name: "an extra selector key with the wrong value selects nothing",
    service: aService({ extraSelector: { app: "api" } }),
    findings: ["selector-mismatch:error"],
    patch: [],
    messages: ["selects app=api", "carry app=web"],
    paths: { "selector-mismatch": ["spec", "selector", "app"] },
  },
  {
    name: "an extra selector key the pods do not carry selects nothing",
    service: aService({ extraSelector: { tier: "db" } }),
    findings: ["selector-mismatch:error"],
    patch: [],
    messages: ["do not carry that label"],
  },
  {
    name: "a selector key named like an Object.prototype member is just absent",
    service: aService({ extraSelector: { constructor: "x" } }),
    findings: ["selector-mismatch:error"],
    patch: [],
    messages: ["selects constructor=x, but pods of StatefulSet web do not carry that label"],
  },
  {
    name: "apps.kubernetes.io/pod-index matching the ordinal is fine",
    service: aService({ podName: "web-1", extraSelector: { "apps.kubernetes.io/pod-index": "1" } }),
    findings: [],
    patch: [],
  },
  {
    name: "apps.kubernetes.io/pod-index of another ordinal selects nothing",
    service: aService({ podName: "web-1", extraSelector: { "apps.kubernetes.io/pod-index": "0" } }),
    findings: ["selector-mismatch:error"],
    patch: [],
    messages: ["carry apps.kubernetes.io/pod-index=1"],
  },
  {
    name: "apps.kubernetes.io/pod-index on 1.28 (label beta, on) is fine",
    service: aService({ extraSelector: { "apps.kubernetes.io/pod-index": "0" } }),
    config: { kubeVersion: "1.28" },
    findings: [],
    patch: [],
  },
  {
    name: "apps.kubernetes.io/pod-index on 1.27 selects nothing (pods do not carry it yet)",
    service: aService({ extraSelector: { "apps.kubernetes.io/pod-index": "0" } }),
    config: { kubeVersion: "1.27" },
    findings: ["selector-mismatch:error"],
    patch: [],
    messages: ["do not carry that label"],
  },
  {
    name: "controller-revision-hash is ignored (not knowable from the template)",
    service: aService({ extraSelector: { "controller-revision-hash": "web-7c9f5d8b4" } }),
    findings: [],
    patch: [],
  },
  {
    name: "selector keys are not checked when the StatefulSet is not found",
    service: aService({ extraSelector: { app: "api" } }),
    lookup: notFound,
    findings: ["statefulset-not-found:warning"],
    patch: [],
  },
  {
    name: "selector-mismatch and ordinal-out-of-range together",
    service: aService({ podName: "web-3", extraSelector: { app: "api" } }),
    findings: ["ordinal-out-of-range:error", "selector-mismatch:error"],
    patch: [],
  },
];

const trafficRows: Row[] = [
  {
    name: "LoadBalancer with Cluster: finding, fixed to Local",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("replace")],
    messages: ["LoadBalancer with externalTrafficPolicy Cluster"],
    paths: { "external-traffic-policy": ["spec", "externalTrafficPolicy"] },
  },
  {
    name: "LoadBalancer with Local: nothing",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Local" }),
    findings: [],
    patch: [],
  },
  {
    name: "LoadBalancer with the policy unset: finding, Local added",
    service: aService({ type: "LoadBalancer" }),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("add")],
    messages: ["externalTrafficPolicy unset"],
    paths: { "external-traffic-policy": ["spec"] },
  },
  {
    name: "LoadBalancer with lowercase local: fixed to Local",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "local" }),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("replace")],
  },
  {
    name: "NodePort with Cluster: fixed to Local",
    service: aService({ type: "NodePort", externalTrafficPolicy: "Cluster" }),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("replace")],
  },
  {
    name: "NodePort with the policy unset: Local added",
    service: aService({ type: "NodePort" }),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("add")],
  },
  {
    name: "NodePort with Local on 1.26: nothing",
    service: aService({ type: "NodePort", externalTrafficPolicy: "Local" }),
    config: { kubeVersion: "1.26" },
    findings: [],
    patch: [],
  },
  {
    name: "ClusterIP without externalIPs never gets a policy",
    service: aService(),
    findings: [],
    patch: [],
  },
  {
    name: "ClusterIP without externalIPs carrying a stale Cluster is left untouched",
    service: aService({ externalTrafficPolicy: "Cluster" }),
    findings: [],
    patch: [],
  },
  ...(["1.26", "1.28"] as const).map((kubeVersion): Row => ({
    name: `ClusterIP with externalIPs on ${kubeVersion}: nothing (Kubernetes rejects the field)`,
    service: aService({ externalIPs: IPS }),
    config: { kubeVersion },
    findings: [],
    patch: [],
  })),
  ...(["1.29", "1.36", "2.0"] as const).map((kubeVersion): Row => ({
    name: `ClusterIP with externalIPs on ${kubeVersion}: finding, Local added`,
    service: aService({ externalIPs: IPS }),
    config: { kubeVersion },
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("add")],
    messages: ["ClusterIP with externalIPs"],
  })),
  {
    name: "ClusterIP with externalIPs and Cluster on 1.29: fixed to Local",
    service: aService({ externalIPs: IPS, externalTrafficPolicy: "Cluster" }),
    config: { kubeVersion: "1.29" },
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("replace")],
  },
  {
    name: "ClusterIP with an empty externalIPs list on 1.36: nothing",
    service: aService({ externalIPs: [] }),
    findings: [],
    patch: [],
  },
  {
    name: "type unset with externalIPs on 1.29: Local added",
    service: aService({ type: null, externalIPs: IPS }),
    config: { kubeVersion: "1.29" },
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("add")],
  },
  {
    name: "headless without externalIPs: nothing",
    service: aService({ clusterIP: "None" }),
    findings: [],
    patch: [],
  },
  {
    name: "headless with externalIPs on 1.28: nothing",
    service: aService({ clusterIP: "None", externalIPs: IPS }),
    config: { kubeVersion: "1.28" },
    findings: [],
    patch: [],
  },
  {
    name: "headless with externalIPs on 1.29: Local added",
    service: aService({ clusterIP: "None", externalIPs: IPS }),
    config: { kubeVersion: "1.29" },
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("add")],
  },
  {
    name: "LoadBalancer with Cluster and no labels: both fixed in one object",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster", noLabels: true }),
    findings: ["external-traffic-policy:error", "missing-labels:error"],
    patch: [
      setLocal("replace"),
      { op: "add", path: "/metadata/labels", value: stsguardLabels("web-0") },
    ],
  },
];

const labelRows: Row[] = [
  {
    name: "no labels map: one add of the whole map",
    service: aService({ noLabels: true }),
    findings: ["missing-labels:error"],
    patch: [{ op: "add", path: "/metadata/labels", value: stsguardLabels("web-0") }],
    messages: ["stsguard.io/statefulset=web", "stsguard.io/ordinal=0"],
    paths: { "missing-labels": ["metadata"] },
  },
  {
    name: "labels null: the map is replaced",
    service: aService({ labels: null }),
    findings: ["missing-labels:error"],
    patch: [{ op: "replace", path: "/metadata/labels", value: stsguardLabels("web-0") }],
  },
  {
    name: "labels given as a list: replaced by a map",
    service: { ...aService({ noLabels: true }), metadata: { name: "web-0", labels: [] } },
    findings: ["missing-labels:error"],
    patch: [{ op: "replace", path: "/metadata/labels", value: stsguardLabels("web-0") }],
  },
  {
    name: "other labels only: both added with / escaped as ~1",
    service: aService({ labels: { app: "web" } }),
    findings: ["missing-labels:error"],
    patch: [
      { op: "add", path: "/metadata/labels/stsguard.io~1statefulset", value: "web" },
      { op: "add", path: "/metadata/labels/stsguard.io~1ordinal", value: "0" },
    ],
    paths: { "missing-labels": ["metadata", "labels"] },
  },
  {
    name: "a wrong ordinal label is corrected",
    service: aService({ labels: { ...stsguardLabels("web-0"), "stsguard.io/ordinal": "1" } }),
    findings: ["missing-labels:error"],
    patch: [{ op: "replace", path: "/metadata/labels/stsguard.io~1ordinal", value: "0" }],
    messages: ["lacks required label stsguard.io/ordinal=0"],
  },
  {
    name: "a wrong statefulset label is corrected",
    service: aService({ podName: "web-1", labels: stsguardLabels("db-1") }),
    findings: ["missing-labels:error"],
    patch: [{ op: "replace", path: "/metadata/labels/stsguard.io~1statefulset", value: "web" }],
  },
  {
    name: "a number where a label string belongs is corrected",
    service: aService({ labels: { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": 0 } }),
    findings: ["missing-labels:error"],
    patch: [{ op: "replace", path: "/metadata/labels/stsguard.io~1ordinal", value: "0" }],
  },
  {
    name: "an extra fixed label is added",
    service: aService(),
    config: { extraLabels: [OWNER] },
    findings: ["missing-labels:error"],
    patch: [addLabel("example.com/owner", "platform")],
    messages: ["example.com/owner=platform"],
  },
  {
    name: "an extra fixed label already present: nothing",
    service: aService({ labels: { ...stsguardLabels("web-0"), "example.com/owner": "platform" } }),
    config: { extraLabels: [OWNER] },
    findings: [],
    patch: [],
  },
  {
    name: "an extra label copied from the StatefulSet's label",
    service: aService(),
    config: { extraLabels: [TEAM] },
    findings: ["missing-labels:error"],
    patch: [addLabel("example.com/team", "payments")],
  },
  {
    name: "an extra label copied from a StatefulSet label that changed is corrected",
    service: aService({ labels: { ...stsguardLabels("web-0"), "example.com/team": "search" } }),
    config: { extraLabels: [TEAM] },
    findings: ["missing-labels:error"],
    patch: [{ op: "replace", path: "/metadata/labels/example.com~1team", value: "payments" }],
  },
  {
    name: "an extra copied label is not required when the StatefulSet lacks that label",
    service: aService(),
    lookup: found({ labels: { app: "web" } }),
    config: { extraLabels: [TEAM] },
    findings: [],
    patch: [],
  },
  {
    name: "a copied label named like an Object.prototype member is just absent",
    service: aService(),
    config: { extraLabels: [{ key: "example.com/ctor", fromStatefulSetLabel: "constructor" }] },
    findings: [],
    patch: [],
  },
  {
    name: "an extra copied label is not required when the StatefulSet is not found",
    service: aService(),
    lookup: notFound,
    config: { extraLabels: [TEAM] },
    findings: ["statefulset-not-found:warning"],
    patch: [],
  },
  {
    name: "an extra copied label is not required when the lookup is unavailable",
    service: aService(),
    lookup: unavailable,
    config: { extraLabels: [TEAM] },
    findings: [],
    patch: [],
  },
  {
    name: "a custom prefix: its labels are required, stsguard.io ones are kept",
    service: aService(),
    config: { labelPrefix: "acme.example" },
    findings: ["missing-labels:error"],
    patch: addStsguardLabels("web-0", "acme.example"),
    messages: ["acme.example/statefulset=web"],
  },
  {
    name: "no metadata at all: metadata is added with the labels",
    service: {
      kind: "Service",
      spec: { selector: { "statefulset.kubernetes.io/pod-name": "web-0" } },
    },
    findings: ["missing-labels:error"],
    patch: [{ op: "add", path: "/metadata", value: { labels: stsguardLabels("web-0") } }],
    messages: ["Service default/<unnamed>"],
    paths: { "missing-labels": ["metadata"] },
  },
];

const severityRows: Row[] = [
  {
    name: "external-traffic-policy off: no finding and no fix",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    config: { severities: { "external-traffic-policy": "off" } },
    findings: [],
    patch: [],
  },
  {
    name: "external-traffic-policy warning: a warning, still fixed",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    config: { severities: { "external-traffic-policy": "warning" } },
    findings: ["external-traffic-policy:warning"],
    patch: [setLocal("replace")],
  },
  {
    name: "missing-labels off: no finding and no fix",
    service: aService({ noLabels: true }),
    config: { severities: { "missing-labels": "off" } },
    findings: [],
    patch: [],
  },
  {
    name: "missing-labels off with a policy to fix: only the policy is fixed",
    service: aService({ type: "NodePort", noLabels: true }),
    config: { severities: { "missing-labels": "off" } },
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("add")],
  },
  {
    name: "ordinal-out-of-range warning",
    service: aService({ podName: "web-2" }),
    config: { severities: { "ordinal-out-of-range": "warning" } },
    findings: ["ordinal-out-of-range:warning"],
    patch: [],
  },
  {
    name: "ordinal-out-of-range off",
    service: aService({ podName: "web-2" }),
    config: { severities: { "ordinal-out-of-range": "off" } },
    findings: [],
    patch: [],
  },
  {
    name: "statefulset-not-found error",
    service: aService(),
    lookup: notFound,
    config: { severities: { "statefulset-not-found": "error" } },
    findings: ["statefulset-not-found:error"],
    patch: [],
  },
  {
    name: "statefulset-not-found off",
    service: aService(),
    lookup: notFound,
    config: { severities: { "statefulset-not-found": "off" } },
    findings: [],
    patch: [],
  },
  {
    name: "malformed-pod-name off",
    service: aService({ podName: "web-01" }),
    config: { severities: { "malformed-pod-name": "off" } },
    findings: [],
    patch: [],
  },
  {
    name: "selector-mismatch warning",
    service: aService({ extraSelector: { app: "api" } }),
    config: { severities: { "selector-mismatch": "warning" } },
    findings: ["selector-mismatch:warning"],
    patch: [],
  },
];

const lbCluster = (labels?: Record<string, string>): Record<string, unknown> =>
  aService({
    type: "LoadBalancer",
    externalTrafficPolicy: "Cluster",
    ...(labels ? { labels } : { noLabels: true }),
  });

const updateRows: Row[] = [
  {
    name: "UPDATE of an object that already broke rules: warnings with a note, still fixed",
    service: lbCluster({ app: "web", tier: "front" }),
    operation: "UPDATE",
    oldService: lbCluster(),
    findings: ["external-traffic-policy:warning", "missing-labels:warning"],
    patch: [setLocal("replace"), ...addStsguardLabels("web-0")],
    messages: [NOTE],
  },
  {
    name: "UPDATE with preexistingViolations enforce keeps errors",
    service: lbCluster({ app: "web", tier: "front" }),
    operation: "UPDATE",
    oldService: lbCluster(),
    config: { preexistingViolations: "enforce" },
    findings: ["external-traffic-policy:error", "missing-labels:error"],
    patch: [setLocal("replace"), ...addStsguardLabels("web-0")],
  },
  {
    name: "UPDATE that breaks a rule the old object kept: error",
    service: lbCluster(stsguardLabels("web-0")),
    operation: "UPDATE",
    oldService: aService({ type: "LoadBalancer", externalTrafficPolicy: "Local" }),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("replace")],
  },
  {
    name: "UPDATE keeping an out-of-range ordinal: warning",
    service: aService({ podName: "web-5", labels: { ...stsguardLabels("web-5"), tier: "x" } }),
    operation: "UPDATE",
    oldService: aService({ podName: "web-5" }),
    findings: ["ordinal-out-of-range:warning"],
    patch: [],
    messages: [NOTE],
  },
  {
    name: "UPDATE moving an in-range Service out of range: error",
    service: aService({ podName: "web-5" }),
    operation: "UPDATE",
    oldService: aService({ podName: "web-1" }),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
  },
  {
    name: "UPDATE retargeting from another StatefulSet: its old findings do not count",
    service: aService({ podName: "web-5" }),
    operation: "UPDATE",
    oldService: aService({ podName: "other-7" }),
    findings: ["ordinal-out-of-range:error"],
    patch: [],
  },
  {
    name: "UPDATE keeping a malformed target: warning",
    service: aService({ podName: "web-02", labels: LABELS_NONE }),
    operation: "UPDATE",
    oldService: aService({ podName: "web-01", labels: LABELS_NONE }),
    findings: ["malformed-pod-name:warning"],
    patch: [],
  },
  {
    name: "UPDATE of a warning-severity rule stays a warning",
    service: aService(),
    lookup: notFound,
    operation: "UPDATE",
    oldService: aService(),
    findings: ["statefulset-not-found:warning"],
    patch: [],
    absentMessages: [NOTE],
  },
  {
    name: "UPDATE from a non-per-pod Service: everything is enforced",
    service: lbCluster(),
    operation: "UPDATE",
    oldService: aService({ type: "LoadBalancer", selector: { app: "web" } }),
    findings: ["external-traffic-policy:error", "missing-labels:error"],
    patch: [
      setLocal("replace"),
      { op: "add", path: "/metadata/labels", value: stsguardLabels("web-0") },
    ],
  },
  {
    name: "UPDATE without an old object: everything is enforced",
    service: lbCluster(),
    operation: "UPDATE",
    findings: ["external-traffic-policy:error", "missing-labels:error"],
    patch: [
      setLocal("replace"),
      { op: "add", path: "/metadata/labels", value: stsguardLabels("web-0") },
    ],
  },
  {
    name: "CREATE ignores an old object",
    service: lbCluster(stsguardLabels("web-0")),
    operation: "CREATE",
    oldService: lbCluster(stsguardLabels("web-0")),
    findings: ["external-traffic-policy:error"],
    patch: [setLocal("replace")],
  },
  {
    name: "UPDATE from LoadBalancer to ClusterIP (recorded, at mutating): stale Cluster left alone",
    service: loadFixture("service-update-type-loadbalancer-to-clusterip.at-mutating").request
      .object,
    operation: "UPDATE",
    oldService: loadFixture("service-update-type-loadbalancer-to-clusterip.at-mutating").request
      .oldObject,
    findings: ["missing-labels:warning"],
    patch: addStsguardLabels("web-1"),
  },
  {
    name: "UPDATE from LoadBalancer to ClusterIP on 1.26: the same",
    service: loadFixture("service-update-type-loadbalancer-to-clusterip.at-mutating").request
      .object,
    operation: "UPDATE",
    oldService: loadFixture("service-update-type-loadbalancer-to-clusterip.at-mutating").request
      .oldObject,
    config: { kubeVersion: "1.26" },
    findings: ["missing-labels:warning"],
    patch: addStsguardLabels("web-1"),
  },
];

const lookupRows: Row[] = [
  {
    name: "lookup unavailable: no StatefulSet-dependent findings",
    service: aService({ podName: "web-9", extraSelector: { app: "api" } }),
    lookup: unavailable,
    findings: [],
    patch: [],
  },
  {
    name: "lookup unavailable: the stsguard.io labels are still required",
    service: aService({ podName: "web-9", noLabels: true }),
    lookup: unavailable,
    findings: ["missing-labels:error"],
    patch: [{ op: "add", path: "/metadata/labels", value: stsguardLabels("web-9") }],
  },
  {
    name: "an object without a namespace is named in the context's namespace",
    service: aService({ podName: "web-2", namespace: null }),
    namespace: "prod",
    findings: ["ordinal-out-of-range:error"],
    patch: [],
    messages: ["Service prod/web-2"],
  },
  {
    name: "an object without a namespace and no context namespace is in default",
    service: aService({ podName: "web-2", namespace: null }),
    lookup: notFound,
    findings: ["statefulset-not-found:warning"],
    patch: [],
    messages: ["Service default/web-2", "namespace default"],
  },
];

const rows: readonly Row[] = [
  ...ordinalRows,
  ...malformedRows,
  ...detectionRows,
  ...selectorRows,
  ...trafficRows,
  ...labelRows,
  ...severityRows,
  ...updateRows,
  ...lookupRows,
];

function lookupOf(sts: unknown): StatefulSetLookup {
  const summary = summarizeStatefulSet(sts, "demo");
  if (!summary) throw new Error("test StatefulSet does not summarize");
  return { status: "found", statefulSet: summary };
}

function evaluate(row: Row, service: unknown): ReturnType<typeof evaluateService> {
  return evaluateService(
    service,
    {
      operation: row.operation ?? "CREATE",
      lookup: row.lookup ?? found(),
      ...(row.oldService === undefined ? {} : { oldService: deepFreeze(row.oldService) }),
      ...(row.namespace === undefined ? {} : { namespace: row.namespace }),
    },
    policyWith(row.config),
  );
}

const describeFinding = (f: Finding): string => `${f.rule}:${f.severity}`;
const sortOps = (ops: readonly PatchOperation[]): PatchOperation[] =>
  [...ops].sort((a, b) => a.path.localeCompare(b.path) || a.op.localeCompare(b.op));

describe("evaluateService", () => {
  it.each(rows)("$name", (row) => {
    const input = deepFreeze(row.service);
    const result = evaluate(row, input);

    expect(result.perPod).toBe(row.perPod ?? true);
    expect(result.findings.map(describeFinding).sort()).toEqual([...row.findings].sort());
    const messages = result.findings.map((f) => f.message).join("\n");
    for (const part of row.messages ?? []) expect(messages).toContain(part);
    for (const part of row.absentMessages ?? []) expect(messages).not.toContain(part);
    for (const [rule, path] of Object.entries(row.paths ?? {})) {
      expect(result.findings.find((f) => f.rule === rule)?.path).toEqual(path);
    }
    if (row.patch.length === 0) {
      expect(result.fixed).toBe(input);
    } else {
      expect(result.fixed).not.toBe(input);
      expect(sortOps(jsonpatch.compare(input as object, result.fixed as object))).toEqual(
        sortOps(row.patch),
      );
    }
  });

  it.each(rows)("is idempotent: $name", (row) => {
    const first = evaluate(row, deepFreeze(row.service));
    const fixed = deepFreeze(first.fixed);
    const second = evaluate(row, fixed);
    expect(second.fixed).toBe(fixed);
    expect(second.findings.filter((f) => f.fixable)).toEqual([]);
    // Fixing changes only what the fixable rules own: every other finding stays as it was.
    expect(second.findings.map(describeFinding)).toEqual(
      first.findings.filter((f) => !f.fixable).map(describeFinding),
    );
  });

  it.each(rows.filter((row) => row.patch.length > 0))(
    "gives a patch that rebuilds the fixed object: $name",
    (row) => {
      const input = deepFreeze(row.service) as object;
      const { fixed } = evaluate(row, input);
      const operations = jsonpatch.compare(input, fixed as object);
      // validate=true: an add under a missing parent throws, as the API server's json-patch fails.
      const { newDocument } = jsonpatch.applyPatch(structuredClone(input), operations, true, false);
      expect(newDocument).toEqual(fixed);
    },
  );

  it("marks only external-traffic-policy and missing-labels findings as fixable", () => {
    const rules = new Set(
      rows.flatMap((row) =>
        evaluate(row, deepFreeze(row.service))
          .findings.filter((f) => f.fixable)
          .map((f) => f.rule),
      ),
    );
    expect([...rules].sort()).toEqual(["external-traffic-policy", "missing-labels"]);
  });

  it("reports the parsed target", () => {
    const result = evaluateService(
      deepFreeze(aService({ podName: "redis-2-3" })),
      { operation: "CREATE", lookup: notFound },
      policyWith(),
    );
    expect(result.target).toEqual({ statefulSet: "redis-2", ordinal: 3 });
  });

  it("does not share structure it changed with the input", () => {
    const input = aService({ type: "LoadBalancer", labels: { app: "web" } });
    const { fixed } = evaluateService(
      input,
      { operation: "CREATE", lookup: found() },
      policyWith(),
    );
    const fixedObject = fixed as { spec: Record<string, unknown>; metadata: { labels: object } };
    fixedObject.spec["externalTrafficPolicy"] = "Cluster";
    expect(input["spec"]).not.toHaveProperty("externalTrafficPolicy");
    expect((input["metadata"] as { labels: object }).labels).toEqual({ app: "web" });
  });
});
