import { describeValue } from "./echo.js";
import { isJsonMap, readMap, readString } from "./raw-object.js";
import type { AutoscalerSummary, StatefulSetSummary } from "./types.js";

/**
 * Autoscalers that set a StatefulSet's replicas, and so widen the ordinals it may have.
 *
 * - A HorizontalPodAutoscaler of any autoscaling version (v1, v2, v2beta2, v2beta1 all spell
 *   `scaleTargetRef`, `minReplicas` and `maxReplicas` alike). The HPA controller resolves
 *   `scaleTargetRef` by group and kind only (`schema.ParseGroupVersion(apiVersion)`, then
 *   `RESTMappings(GroupKind)`), so `apps/v1beta2` still names the StatefulSet, while an empty
 *   apiVersion (the core group) or another group (`apps.kruise.io`'s StatefulSet) does not.
 * - A KEDA ScaledObject (keda.sh/v1alpha1), from manifests: in a cluster KEDA turns it into an
 *   HPA of its own (`keda-hpa-<name>`), which the cluster's HPAs already include.
 *
 * Objects the API server (or KEDA's webhook) would reject, such as a maxReplicas below 1 or
 * below minReplicas, widen nothing.
 */

const HPA_KIND = "HorizontalPodAutoscaler";
const SCALED_OBJECT_KIND = "ScaledObject";
const KEDA_GROUP = "keda.sh";
// KEDA's defaults (keda.sh/v1alpha1 ScaledObject): scaleTargetRef kind Deployment, apiVersion
// apps/v1; minReplicaCount 0; maxReplicaCount 100.
const KEDA_DEFAULT_TARGET_KIND = "Deployment";
const KEDA_DEFAULT_TARGET_API_VERSION = "apps/v1";
const KEDA_DEFAULT_MIN = 0;
const KEDA_DEFAULT_MAX = 100;
const MAX_REPLICAS = 2 ** 31 - 1;

/**
 * An object read as an autoscaler: one of a StatefulSet; one that names a StatefulSet but that
 * the API server (or KEDA's webhook) would reject, with why and the field at fault; or neither.
 */
export type AutoscalerReading =
  | { readonly status: "autoscaler"; readonly autoscaler: AutoscalerSummary }
  | {
      readonly status: "invalid";
      readonly kind: AutoscalerSummary["kind"];
      readonly statefulSet: string;
      readonly reason: string;
      readonly path: readonly string[];
    }
  | { readonly status: "none" };

const NONE: AutoscalerReading = Object.freeze({ status: "none" });

/** What the rules need of an autoscaler of a StatefulSet; null for anything else. */
export function summarizeAutoscaler(
  obj: unknown,
  defaultNamespace: string,
): AutoscalerSummary | null {
  const reading = readAutoscaler(obj, defaultNamespace);
  return reading.status === "autoscaler" ? reading.autoscaler : null;
}

export function readAutoscaler(obj: unknown, defaultNamespace: string): AutoscalerReading {
  const kind = readString(obj, "kind");
  const group = groupOf(readString(obj, "apiVersion") ?? "");
  if (kind === HPA_KIND && group === "autoscaling") {
    return readCounts(obj, defaultNamespace, HPA_FIELDS);
  }
  if (kind === SCALED_OBJECT_KIND && group === KEDA_GROUP) {
    return readCounts(obj, defaultNamespace, SCALED_OBJECT_FIELDS);
  }
  return NONE;
}

interface KindFields {
  readonly kind: AutoscalerSummary["kind"];
  readonly min: string;
  readonly max: string;
  readonly defaultMin: number;
  /** null: required. */
  readonly defaultMax: number | null;
  readonly defaultTargetKind: string | undefined;
  readonly defaultTargetApiVersion: string | undefined;
}

const HPA_FIELDS: KindFields = {
  kind: HPA_KIND,
  min: "minReplicas",
  max: "maxReplicas",
  defaultMin: 1,
  defaultMax: null,
  defaultTargetKind: undefined,
  defaultTargetApiVersion: undefined,
};

const SCALED_OBJECT_FIELDS: KindFields = {
  kind: SCALED_OBJECT_KIND,
  min: "minReplicaCount",
  max: "maxReplicaCount",
  defaultMin: KEDA_DEFAULT_MIN,
  defaultMax: KEDA_DEFAULT_MAX,
  defaultTargetKind: KEDA_DEFAULT_TARGET_KIND,
  defaultTargetApiVersion: KEDA_DEFAULT_TARGET_API_VERSION,
};

function readCounts(obj: unknown, defaultNamespace: string, fields: KindFields): AutoscalerReading {
  const metadata = readMap(obj, "metadata");
  const spec = readMap(obj, "spec");
  const ref = readMap(spec, "scaleTargetRef");
  const statefulSet = readStatefulSetTarget(
    ref,
    readString(ref, "kind") || fields.defaultTargetKind,
    readString(ref, "apiVersion") || fields.defaultTargetApiVersion,
  );
  const name = readString(metadata, "name");
  if (statefulSet === null || !name) return NONE;
  const invalid = (reason: string, field: string): AutoscalerReading => ({
    status: "invalid",
    kind: fields.kind,
    statefulSet,
    reason,
    path: ["spec", field],
  });
  const min = readReplicas(spec, fields.min, fields.defaultMin);
  const max = readReplicas(spec, fields.max, fields.defaultMax);
  const shown = (field: string): string => describeValue(isJsonMap(spec) ? spec[field] : undefined);
  if (min === null) {
    return invalid(`${fields.min} ${shown(fields.min)} is not a whole number from 0`, fields.min);
  }
  if (max === null || max < 1) {
    const value = isJsonMap(spec) ? spec[fields.max] : undefined;
    return invalid(
      value === undefined || value === null
        ? `${fields.max} is missing`
        : `${fields.max} ${shown(fields.max)} is not a whole number from 1`,
      fields.max,
    );
  }
  if (max < min) return invalid(`${fields.max} ${max} is below ${fields.min} ${min}`, fields.max);
  const hpaConfig = readMap(readMap(spec, "advanced"), "horizontalPodAutoscalerConfig");
  return {
    status: "autoscaler",
    autoscaler: {
      kind: fields.kind,
      namespace: readString(metadata, "namespace") || defaultNamespace,
      name,
      statefulSet,
      minReplicas: min,
      maxReplicas: max,
      hpaName:
        fields.kind === SCALED_OBJECT_KIND
          ? readString(hpaConfig, "name") || `keda-hpa-${name}`
          : null,
    },
  };
}

/** `scaleTargetRef.name` when the reference is to a StatefulSet of group apps; else null. */
function readStatefulSetTarget(
  ref: Record<string, unknown> | undefined,
  kind: string | undefined,
  apiVersion: string | undefined,
): string | null {
  const name = readString(ref, "name");
  if (!name || kind !== "StatefulSet" || groupOf(apiVersion ?? "") !== "apps") return null;
  return name;
}

/**
 * The group of an apiVersion as Kubernetes parses it: `apps/v1` is apps, `v1` (or nothing) the
 * core group "", and anything with more than one `/` no group at all.
 */
function groupOf(apiVersion: string): string | null {
  const parts = apiVersion.split("/");
  if (parts.length === 1) return "";
  return parts.length === 2 ? (parts[0] ?? null) : null;
}

/**
 * A replica count: the fallback when absent (or null), the count when a non-negative int32,
 * and null (the object is invalid) otherwise. A fallback of null means the field is required.
 */
function readReplicas(
  spec: Record<string, unknown> | undefined,
  key: string,
  fallback: number | null,
): number | null {
  const value = isJsonMap(spec) ? spec[key] : undefined;
  if (value === undefined || value === null) return fallback;
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_REPLICAS
    ? value
    : null;
}

/**
 * The autoscaler that scales `sts`, among `autoscalers` (any namespace, any target). Should
 * several claim it, the one that lets it grow furthest counts: stsguard never denies a Service
 * for a pod one of them may create. Ties go to an HPA, then to the first name.
 */
export function findAutoscaler(
  sts: Pick<StatefulSetSummary, "namespace" | "name">,
  autoscalers: readonly AutoscalerSummary[],
): AutoscalerSummary | null {
  let best: AutoscalerSummary | null = null;
  for (const candidate of autoscalers) {
    if (candidate.namespace !== sts.namespace || candidate.statefulSet !== sts.name) continue;
    if (!best || compareAutoscalers(candidate, best) < 0) best = candidate;
  }
  return best;
}

function compareAutoscalers(a: AutoscalerSummary, b: AutoscalerSummary): number {
  if (a.maxReplicas !== b.maxReplicas) return b.maxReplicas - a.maxReplicas;
  if (a.kind !== b.kind) return a.kind === HPA_KIND ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * `sts` with the autoscaler that scales it among `autoscalers` (or none). Returns `sts` itself
 * when nothing changes, so a cache's summary is not copied on every lookup.
 */
export function withAutoscaler(
  sts: StatefulSetSummary,
  autoscalers: readonly AutoscalerSummary[],
): StatefulSetSummary {
  const autoscaler = findAutoscaler(sts, autoscalers);
  if (autoscaler === (sts.autoscaler ?? null)) return sts;
  return { ...sts, autoscaler };
}

/**
 * The autoscalers after `incoming` (manifests about to be applied) replaces what `existing`
 * (the cluster) holds: an object of the same kind and name, and the HPA KEDA made for a
 * ScaledObject of `incoming`.
 */
export function mergeAutoscalers(
  incoming: readonly AutoscalerSummary[],
  existing: readonly AutoscalerSummary[],
): AutoscalerSummary[] {
  const replaced = new Set<string>();
  for (const a of incoming) {
    replaced.add(`${a.kind} ${a.namespace}/${a.name}`);
    if (a.hpaName !== null) replaced.add(`${HPA_KIND} ${a.namespace}/${a.hpaName}`);
  }
  return [
    ...incoming,
    ...existing.filter((a) => !replaced.has(`${a.kind} ${a.namespace}/${a.name}`)),
  ];
}
