/**
 * The vocabulary of the policy engine. Everything here is plain data: the engine reads raw
 * Kubernetes JSON (as the API server or a manifest file gave it) and never a typed client model.
 */

export const RULE_IDS = [
  "malformed-pod-name",
  "statefulset-not-found",
  "ordinal-out-of-range",
  "external-traffic-policy",
  "missing-labels",
  "selector-mismatch",
  "orphaned-service",
  "removed-api-version",
  "governing-service",
] as const;

export type RuleId = (typeof RULE_IDS)[number];

/** Severity as configured; `off` switches a rule off. */
export type Severity = "error" | "warning" | "off";

/** Severity of a finding that was reported. */
export type FindingSeverity = Exclude<Severity, "off">;

/** The selector key that makes a Service a per-pod Service. */
export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";

/** `<sts>-<ordinal>`, parsed from a per-pod Service's selector value. */
export interface PodTarget {
  readonly statefulSet: string;
  readonly ordinal: number;
}

/** What the rules need to know of one StatefulSet. Caches keep only this, never whole objects. */
export interface StatefulSetSummary {
  readonly namespace: string;
  readonly name: string;
  /** `spec.replicas`, defaulted to 1 as the API server does. */
  readonly replicas: number;
  /**
   * `spec.replicas` is absent, so `replicas` is the default 1. Only manifests can say so: the
   * API server stores the default. Absent: false.
   */
  readonly replicasUnset?: boolean;
  /**
   * The autoscaler that scales this StatefulSet, joined by the source that answered the lookup
   * (src/policy/autoscalers.ts); null or absent: none.
   */
  readonly autoscaler?: AutoscalerSummary | null;
  /** `spec.ordinals.start`, defaulted to 0. */
  readonly start: number;
  /** `spec.template.metadata.labels`: the labels every pod carries. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** `metadata.labels`: source of extra labels copied onto per-pod Services. */
  readonly labels: Readonly<Record<string, string>>;
  /** `spec.serviceName`, the governing Service; "" when unset. */
  readonly serviceName: string;
}

/**
 * An autoscaler of a StatefulSet: a HorizontalPodAutoscaler, or (in manifests) a KEDA
 * ScaledObject. Only those whose scaleTargetRef is a StatefulSet of group apps are kept.
 */
export interface AutoscalerSummary {
  readonly kind: "HorizontalPodAutoscaler" | "ScaledObject";
  readonly namespace: string;
  readonly name: string;
  /** `spec.scaleTargetRef.name`: the StatefulSet it scales, in its own namespace. */
  readonly statefulSet: string;
  /** `minReplicas` (default 1), or a ScaledObject's `minReplicaCount` (default 0). */
  readonly minReplicas: number;
  /** `maxReplicas`, or a ScaledObject's `maxReplicaCount` (default 100). */
  readonly maxReplicas: number;
  /** A ScaledObject's HPA (`keda-hpa-<name>` unless renamed), which it replaces; null for an HPA. */
  readonly hpaName: string | null;
}

/** What `governing-service` needs to know of any Service. */
export interface ServiceSummary {
  readonly namespace: string;
  readonly name: string;
  /** `spec.clusterIP: None`: only a headless Service gives pods their `<pod>.<service>` names. */
  readonly headless: boolean;
  /** `spec.selector`, string entries only. */
  readonly selector: Readonly<Record<string, string>>;
}

/** The answer of a source for the Service `<namespace>/<name>` a StatefulSet names. */
export type ServiceLookup =
  | { readonly status: "found"; readonly service: ServiceSummary }
  /** `elsewhere`: namespaces where a Service of that name exists, for the message. */
  | { readonly status: "not-found"; readonly elsewhere?: readonly string[] }
  /** Offline: the Service is not among the inputs, so whether it exists is not known. */
  | { readonly status: "unresolved"; readonly reason: string }
  /** The source could not answer (API unreachable, deadline passed). */
  | { readonly status: "unavailable"; readonly reason: string };

/** What `orphaned-service` needs to know of one per-pod Service. */
export interface PerPodServiceSummary {
  readonly namespace: string;
  readonly name: string;
  readonly target: PodTarget;
}

/** The answer of a StatefulSet source for one `<namespace>/<name>`. */
export type StatefulSetLookup =
  | { readonly status: "found"; readonly statefulSet: StatefulSetSummary }
  | { readonly status: "not-found" }
  /** The source could not answer (API unreachable, deadline passed, cache not synced). */
  | { readonly status: "unavailable"; readonly reason: string };

export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
}

/** An extra required label: a fixed value, or copied from a label of the StatefulSet. */
export type ExtraLabel =
  | { readonly key: string; readonly value: string }
  | { readonly key: string; readonly fromStatefulSetLabel: string };

/** Policy settings, shared by every front-end. Built by src/config, frozen. */
export interface PolicyConfig {
  readonly severities: Readonly<Record<RuleId, Severity>>;
  /** Prefix of the required labels: `<prefix>/statefulset` and `<prefix>/ordinal`. */
  readonly labelPrefix: string;
  readonly extraLabels: readonly ExtraLabel[];
  /** Decides where `externalTrafficPolicy` is allowed (ClusterIP + externalIPs from 1.29). */
  readonly kubeVersion: KubeVersion;
  /** On UPDATE, a rule the old object already broke is `warn`ed only, or `enforce`d as usual. */
  readonly preexistingViolations: "warn" | "enforce";
}

/** One thing wrong with one object. */
export interface Finding {
  readonly rule: RuleId;
  readonly severity: FindingSeverity;
  /** Names the object and says how to fix it; no rule id (front-ends add it). */
  readonly message: string;
  /** The mutating fix (and `stsguard fix`) repairs it. */
  readonly fixable: boolean;
  /**
   * The field at fault, as path segments inside the object, e.g.
   * `["spec", "selector", "statefulset.kubernetes.io/pod-name"]`. The CLI turns it into a
   * file position; it is the deepest field that exists in the object.
   */
  readonly path: readonly (string | number)[];
}

export type Operation = "CREATE" | "UPDATE";

/** Result of evaluating one Service. */
export interface ServiceEvaluation {
  /** False when the object is not a per-pod Service: no findings, `fixed` is the input. */
  readonly perPod: boolean;
  /** The parsed selector target, when it parses. */
  readonly target: PodTarget | null;
  readonly findings: readonly Finding[];
  /**
   * The input with the fixes applied, or the input itself (same reference) when nothing changes.
   * Unchanged subtrees are shared with the input: treat both as read-only.
   */
  readonly fixed: unknown;
}
