/**
 * Small builders for raw Kubernetes JSON and a loader for the recorded AdmissionReviews.
 * Every call returns a fresh object, so a test can change or freeze what it gets.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Recorded from a real kube-apiserver 1.26; provenance in that folder's README. */
export const fixturesDir = path.resolve(repoRoot, "test/fixtures/admission-reviews");

export interface FixtureRequest {
  readonly uid: string;
  readonly operation: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly dryRun?: boolean;
  readonly subResource?: string;
  readonly object: unknown;
  readonly oldObject: unknown;
  readonly [key: string]: unknown;
}

export interface FixtureReview {
  readonly apiVersion: string;
  readonly kind: string;
  readonly request: FixtureRequest;
}

const fixtureCache = new Map<string, unknown>();

/** A deep copy of `<fixturesDir>/<name>.json` (the `.json` suffix is optional). */
export function loadFixture(name: string): FixtureReview {
  const file = name.endsWith(".json") ? name : `${name}.json`;
  let parsed = fixtureCache.get(file);
  if (parsed === undefined) {
    parsed = JSON.parse(readFileSync(path.join(fixturesDir, file), "utf8")) as unknown;
    fixtureCache.set(file, parsed);
  }
  return structuredClone(parsed) as FixtureReview;
}

/** Fixture names (without `.json`) that start with `prefix`, sorted. */
export function listFixtures(prefix = ""): string[] {
  return readdirSync(fixturesDir)
    .filter((file) => file.endsWith(".json") && file.startsWith(prefix))
    .map((file) => file.slice(0, -".json".length))
    .sort();
}

export interface ServiceOptions {
  readonly name?: string;
  /** null: no `metadata.namespace`. */
  readonly namespace?: string | null;
  /** null: no `spec.type`. */
  readonly type?: string | null;
  /** The `statefulset.kubernetes.io/pod-name` selector value; any JSON, to test bad input. */
  readonly podName?: unknown;
  /** More selector entries beside the pod name. */
  readonly extraSelector?: Readonly<Record<string, unknown>>;
  /** Replaces the whole selector (a list, null, a map without the pod-name key...); undefined: none. */
  readonly selector?: unknown;
  /**
   * `metadata.labels`; default: the stsguard.io labels for `podName`, so the Service passes.
   * null: `labels: null`. Use `noLabels` for no `labels` key at all.
   */
  readonly labels?: Readonly<Record<string, unknown>> | null;
  readonly noLabels?: boolean;
  readonly externalTrafficPolicy?: unknown;
  readonly externalIPs?: readonly string[];
  readonly clusterIP?: string;
}

const POD_NAME_KEY = "statefulset.kubernetes.io/pod-name";

/** The labels stsguard requires for a pod name like `web-0` (default prefix). */
export function stsguardLabels(podName: string, prefix = "stsguard.io"): Record<string, string> {
  const dash = podName.lastIndexOf("-");
  return {
    [`${prefix}/statefulset`]: podName.slice(0, dash),
    [`${prefix}/ordinal`]: podName.slice(dash + 1),
  };
}

/** A v1 Service; by default a ClusterIP per-pod Service for `web-0` in `demo` that breaks no rule. */
export function aService(options: ServiceOptions = {}): Record<string, unknown> {
  const podName = "podName" in options ? options.podName : "web-0";
  const metadata: Record<string, unknown> = {
    name: options.name ?? (typeof podName === "string" ? podName : "per-pod"),
  };
  if (options.namespace !== null) metadata["namespace"] = options.namespace ?? "demo";
  if (options.noLabels !== true) {
    metadata["labels"] =
      options.labels === undefined
        ? typeof podName === "string"
          ? stsguardLabels(podName)
          : {}
        : options.labels === null
          ? null
          : { ...options.labels };
  }
  const selector =
    "selector" in options
      ? structuredClone(options.selector)
      : { [POD_NAME_KEY]: podName, ...options.extraSelector };
  const spec: Record<string, unknown> = {
    ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 80 }],
  };
  if (selector !== undefined) spec["selector"] = selector;
  if (options.type !== null) spec["type"] = options.type ?? "ClusterIP";
  if (options.clusterIP !== undefined) spec["clusterIP"] = options.clusterIP;
  if (options.externalIPs !== undefined) spec["externalIPs"] = [...options.externalIPs];
  if (options.externalTrafficPolicy !== undefined) {
    spec["externalTrafficPolicy"] = options.externalTrafficPolicy;
  }
  return { apiVersion: "v1", kind: "Service", metadata, spec };
}

export interface StatefulSetOptions {
  readonly name?: string;
  /** null: no `metadata.namespace`. */
  readonly namespace?: string | null;
  /** null or absent key: see `noReplicas`. Any JSON, to test bad input. */
  readonly replicas?: unknown;
  readonly noReplicas?: boolean;
  /** `spec.ordinals`, verbatim (e.g. `{}` or `{ start: 5 }`). */
  readonly ordinals?: unknown;
  /** `spec.template.metadata.labels`; default `{ app: <name> }`. */
  readonly podLabels?: Readonly<Record<string, unknown>>;
  /** `metadata.labels`; default none. */
  readonly labels?: Readonly<Record<string, unknown>>;
  readonly apiVersion?: string;
  readonly kind?: string;
}

/** An apps/v1 StatefulSet `web` in `demo` with 2 replicas, pods labelled `app: web`. */
export function aStatefulSet(options: StatefulSetOptions = {}): Record<string, unknown> {
  const name = options.name ?? "web";
  const podLabels = options.podLabels ?? { app: name };
  const metadata: Record<string, unknown> = { name };
  if (options.namespace !== null) metadata["namespace"] = options.namespace ?? "demo";
  if (options.labels !== undefined) metadata["labels"] = { ...options.labels };
  const spec: Record<string, unknown> = {
    serviceName: name,
    selector: { matchLabels: { ...podLabels } },
    template: {
      metadata: { labels: { ...podLabels } },
      spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.9" }] },
    },
  };
  if (options.noReplicas !== true) {
    spec["replicas"] = "replicas" in options ? options.replicas : 2;
  }
  if (options.ordinals !== undefined) spec["ordinals"] = structuredClone(options.ordinals);
  return {
    apiVersion: options.apiVersion ?? "apps/v1",
    kind: options.kind ?? "StatefulSet",
    metadata,
    spec,
  };
}

/** Freezes `value` and everything in it, so a test fails if code under test mutates input. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export interface AutoscalerOptions {
  readonly name?: string;
  /** null: no `metadata.namespace`. */
  readonly namespace?: string | null;
  /** The autoscaler's own apiVersion; default `autoscaling/v2` (`keda.sh/v1alpha1` for KEDA). */
  readonly apiVersion?: string;
  /** `spec.scaleTargetRef` verbatim; default the apps/v1 StatefulSet `web`. */
  readonly target?: Readonly<Record<string, unknown>>;
  /** `minReplicas` (`minReplicaCount`); absent key when undefined. */
  readonly min?: unknown;
  /** `maxReplicas` (`maxReplicaCount`); absent key when undefined. */
  readonly max?: unknown;
}

const STATEFULSET_WEB = { apiVersion: "apps/v1", kind: "StatefulSet", name: "web" };

/** A HorizontalPodAutoscaler `web` in `demo` (autoscaling/v2) of the StatefulSet `web`, 2–4. */
export function anHpa(options: AutoscalerOptions = {}): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: options.name ?? "web" };
  if (options.namespace !== null) metadata["namespace"] = options.namespace ?? "demo";
  const spec: Record<string, unknown> = {
    scaleTargetRef: { ...(options.target ?? STATEFULSET_WEB) },
  };
  spec["minReplicas"] = "min" in options ? options.min : 2;
  spec["maxReplicas"] = "max" in options ? options.max : 4;
  if (spec["minReplicas"] === undefined) delete spec["minReplicas"];
  if (spec["maxReplicas"] === undefined) delete spec["maxReplicas"];
  return {
    apiVersion: options.apiVersion ?? "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata,
    spec,
  };
}

/** A KEDA ScaledObject `web` in `demo` of the StatefulSet `web`; counts only when given. */
export function aScaledObject(options: AutoscalerOptions = {}): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: options.name ?? "web" };
  if (options.namespace !== null) metadata["namespace"] = options.namespace ?? "demo";
  const spec: Record<string, unknown> = {
    scaleTargetRef: { ...(options.target ?? STATEFULSET_WEB) },
    triggers: [{ type: "cpu", metricType: "Utilization", metadata: { value: "60" } }],
  };
  if (options.min !== undefined) spec["minReplicaCount"] = options.min;
  if (options.max !== undefined) spec["maxReplicaCount"] = options.max;
  return {
    apiVersion: options.apiVersion ?? "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata,
    spec,
  };
}
