import { truncateText } from "./echo.js";
import type { AutoscalerSummary, StatefulSetSummary } from "./types.js";

/**
 * The ordinals a StatefulSet may have: the one notion every rule and front-end uses.
 *
 * Without an autoscaler, `[start, start + replicas)`: the pods that exist (replicas 1 when
 * unset). With one, every ordinal below `start + maxReplicas` is one the autoscaler may create,
 * and those of the pods that exist now stay in (a StatefulSet above maxReplicas until the
 * autoscaler scales it in). An HPA leaves a StatefulSet at 0 replicas alone ("scaling is
 * disabled since the replica count of the target is zero") unless its minReplicas is 0 too, so
 * at 0 the autoscaler widens nothing.
 */
export interface OrdinalRange {
  readonly start: number;
  /** One past the last ordinal; `start` when there are none. */
  readonly end: number;
  /** The autoscaler that sets the range; null when `spec.replicas` alone does. */
  readonly autoscaler: AutoscalerSummary | null;
}

export function possibleOrdinals(sts: StatefulSetSummary): OrdinalRange {
  const autoscaler = activeAutoscaler(sts);
  const count = autoscaler ? Math.max(sts.replicas, autoscaler.maxReplicas) : sts.replicas;
  return { start: sts.start, end: sts.start + count, autoscaler };
}

/** Whether `ordinal` is one the StatefulSet may have (possibleOrdinals). */
export function hasOrdinal(sts: StatefulSetSummary, ordinal: number): boolean {
  const { start, end } = possibleOrdinals(sts);
  return ordinal >= start && ordinal < end;
}

function activeAutoscaler(sts: StatefulSetSummary): AutoscalerSummary | null {
  const autoscaler = sts.autoscaler ?? null;
  if (!autoscaler || (sts.replicas === 0 && autoscaler.minReplicas > 0)) return null;
  return autoscaler;
}

/**
 * The range as messages say it, after "has" or "will have", with where the number came from:
 * `3 replicas (ordinals 0-2)`, `1 replica (ordinal 0), replicas unset (defaults to 1)`,
 * `up to 5 replicas (ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler kafka`, and at 0
 * an autoscaler that does not scale from there: `0 replicas (no pods; autoscaling is off at 0)`.
 */
export function describeOrdinalRange(sts: StatefulSetSummary): string {
  const range = possibleOrdinals(sts);
  const count = range.end - range.start;
  if (count === 0) {
    // Short: an orphaned-service warning must fit the API server's 256 characters.
    return sts.autoscaler
      ? "0 replicas (no pods; autoscaling is off at 0)"
      : "0 replicas (no pods)";
  }
  const last = range.end - 1;
  const ordinals =
    range.start === last ? `ordinal ${range.start}` : `ordinals ${range.start}-${last}`;
  const replicas = `${count} replica${count === 1 ? "" : "s"} (${ordinals})`;
  if (range.autoscaler) {
    const { minReplicas, maxReplicas } = range.autoscaler;
    const upTo = sts.replicas > maxReplicas ? "" : "up to ";
    return `${upTo}${replicas}, autoscaled ${minReplicas}–${maxReplicas} by ${describeAutoscaler(range.autoscaler)}`;
  }
  return sts.replicasUnset ? `${replicas}, replicas unset (defaults to 1)` : replicas;
}

/**
 * How to give the StatefulSet more ordinals: what sets its range. `short` leaves out the
 * autoscaler's name, for a message that has just named it.
 */
export function describeRangeFix(sts: StatefulSetSummary, short = false): string {
  const { autoscaler } = possibleOrdinals(sts);
  if (autoscaler) {
    const field = autoscaler.kind === "ScaledObject" ? "maxReplicaCount" : "maxReplicas";
    return short ? `raise ${field}` : `raise ${field} of ${describeAutoscaler(autoscaler)}`;
  }
  return sts.replicasUnset ? "set spec.replicas" : "scale it up";
}

/**
 * `HorizontalPodAutoscaler kafka`, `ScaledObject kafka`: same namespace as its StatefulSet. A
 * name from a manifest is not validated by an API server, so it is cut short like any echo.
 */
export function describeAutoscaler(autoscaler: AutoscalerSummary): string {
  return `${autoscaler.kind} ${truncateText(autoscaler.name)}`;
}
