/**
 * What one reconcile of a StatefulSet must do, decided from the caches alone (pure). The rules
 * that keep the controller from fighting people:
 * - it deletes only Services it created (managed-by label or its apply in managedFields) AND
 *   that name a StatefulSet of this name as controller owner (this uid, or a former one's);
 * - a Service of a wanted name that is not its own is reported, never written;
 * - bad annotations, and requests beyond the configuration's limits, are reported and nothing is
 *   written or deleted.
 *
 * Which Services: it creates one for every pod, `[start, start + replicas)`, and deletes its own
 * outside the ordinals the StatefulSet may have (possibleOrdinals, the engine's one notion of the
 * range). With a HorizontalPodAutoscaler that is the pods plus every ordinal below
 * `start + maxReplicas`: a Service of a pod the autoscaler scaled in is kept (and kept up to
 * date), not created, because the autoscaler scales out to it again, and deleting and recreating
 * a LoadBalancer changes its external address and takes minutes each time. It goes once
 * maxReplicas no longer covers it, or the HPA is deleted, retargeted or idle at 0 replicas.
 */
import {
  describeAutoscaler,
  possibleOrdinals,
  summarizeStatefulSet,
  toPodName,
  withAutoscaler,
  type PolicyConfig,
} from "../policy/index.js";
import type { PodTarget, StatefulSetSummary } from "../policy/types.js";
import {
  buildDesiredServices,
  FIELD_MANAGER,
  MANAGED_BY_LABEL,
  type ApplyConfiguration,
  type ControllerScope,
} from "./desired-services.js";
import { readMap, readString } from "../policy/raw-object.js";

/** What the controller keeps of a Service (its Services cache). */
export interface ObservedService {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  /** metadata.deletionTimestamp is set (a LoadBalancer Service waits for its finalizer). */
  readonly deleting: boolean;
  /** The ownerReference with `controller: true`, if any. */
  readonly controllerOwner: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly name: string;
    readonly uid: string;
  } | null;
  /** Written by the controller: its managed-by label, or its manager in managedFields. */
  readonly managed: boolean;
  /**
   * The controller's manager has an Update entry here: a create of its own not yet turned into an
   * Apply entry (the controller stopped in between). It is converted before the next apply.
   */
  readonly updateEntry: boolean;
  /** The `statefulset.kubernetes.io/pod-name` target, when the Service is a per-pod one. */
  readonly target: PodTarget | null;
}

export type DeleteReason = "scaled-down" | "not-exposed" | "statefulset-replaced";

export type PlannedAction =
  | {
      readonly kind: "apply";
      readonly service: ApplyConfiguration;
      readonly existing: ObservedService | null;
    }
  | {
      readonly kind: "delete";
      readonly service: ObservedService;
      readonly reason: DeleteReason;
      /** Why, for the ServiceDeleted Event: after "Deleted per-pod Service <name>: ". */
      readonly why: string;
    }
  | { readonly kind: "not-owned"; readonly service: ObservedService }
  | { readonly kind: "invalid"; readonly problems: readonly string[] }
  | { readonly kind: "not-allowed"; readonly problems: readonly string[] }
  | { readonly kind: "not-approved"; readonly problems: readonly string[] };

/**
 * `statefulSet` is the raw object (undefined when it no longer exists); `services` are the
 * Services of its namespace; `scope.autoscalers` the HorizontalPodAutoscalers of its namespace.
 */
export function planReconcile(
  statefulSetName: string,
  statefulSet: unknown,
  services: readonly ObservedService[],
  policy: PolicyConfig,
  scope: ControllerScope,
): PlannedAction[] {
  const uid = readString(readMap(statefulSet, "metadata"), "uid");
  const ours = services.filter(
    (s) => s.managed && isStatefulSetOwner(s.controllerOwner, statefulSetName),
  );
  const current = ours.filter((s) => uid !== undefined && s.controllerOwner?.uid === uid);
  // Created by us for an earlier StatefulSet of this name: the garbage collector removes them
  // too, but a new StatefulSet must not wait for it to get its Services.
  const actions: PlannedAction[] = ours
    .filter((s) => !current.includes(s) && !s.deleting)
    .map((service) => ({
      kind: "delete",
      service,
      reason: "statefulset-replaced",
      why: DELETE_REASONS["statefulset-replaced"],
    }));
  if (statefulSet === undefined) return actions;

  const namespace = readString(readMap(statefulSet, "metadata"), "namespace") ?? "";
  const summary = summarizeStatefulSet(statefulSet, namespace);
  const sts = summary && withAutoscaler(summary, scope.autoscalers ?? []);
  const kept = sts ? keptBeyondPods(sts, current) : [];
  const desired = buildDesiredServices(
    statefulSet,
    policy,
    scope,
    kept.map((service) => service.target?.ordinal ?? 0),
  );
  if (
    desired.kind === "invalid" ||
    desired.kind === "not-allowed" ||
    desired.kind === "not-approved"
  )
    return [{ kind: desired.kind, problems: desired.problems }];
  const wanted = desired.kind === "services" ? desired.services : [];
  const byName = new Map(services.map((s) => [s.name, s]));
  const wantedNames = new Set<string>();
  for (const service of wanted) {
    const name = readString(readMap(service, "metadata"), "name") ?? "";
    wantedNames.add(name);
    const existing = byName.get(name);
    if (!existing) {
      actions.push({ kind: "apply", service, existing: null });
    } else if (current.includes(existing)) {
      if (!existing.deleting) actions.push({ kind: "apply", service, existing });
    } else if (!ours.includes(existing)) {
      actions.push({ kind: "not-owned", service: existing });
    }
    // else: ours for a former StatefulSet, deleted above; created again once it is gone.
  }
  if (desired.kind === "services") {
    desired.kept.forEach((service, index) => {
      const existing = kept[index];
      if (!existing) return;
      wantedNames.add(existing.name);
      actions.push({ kind: "apply", service, existing });
    });
  }
  const reason: DeleteReason = desired.kind === "off" ? "not-exposed" : "scaled-down";
  for (const service of current) {
    if (!wantedNames.has(service.name) && !service.deleting) {
      const why =
        reason === "scaled-down" && sts ? describeScaledDown(sts, service) : DELETE_REASONS[reason];
      actions.push({ kind: "delete", service, reason, why });
    }
  }
  return actions;
}

/**
 * The StatefulSet's own Services, not being deleted, of ordinals past its pods that its range
 * still holds: those of pods its autoscaler scaled in (none without an autoscaler, where the
 * range is the pods). Only a Service named for the pod it selects counts.
 */
function keptBeyondPods(
  sts: StatefulSetSummary,
  current: readonly ObservedService[],
): ObservedService[] {
  const range = possibleOrdinals(sts);
  const podsEnd = sts.start + sts.replicas;
  return current
    .filter(
      (service) =>
        !service.deleting &&
        service.target !== null &&
        service.target.statefulSet === sts.name &&
        service.name === toPodName(service.target) &&
        service.target.ordinal >= podsEnd &&
        service.target.ordinal >= range.start &&
        service.target.ordinal < range.end,
    )
    .sort((a, b) => (a.target?.ordinal ?? 0) - (b.target?.ordinal ?? 0));
}

const DELETE_REASONS = {
  "scaled-down": "its pod's ordinal is no longer in the StatefulSet's ordinal range",
  "not-exposed": "the StatefulSet no longer asks for per-pod Services (expose annotation removed)",
  "statefulset-replaced": "it belonged to an earlier StatefulSet of the same name",
} as const;

/**
 * Why a Service past the range goes, naming the autoscaler that no longer covers its ordinal, or
 * the one that does not scale the StatefulSet from 0 replicas. Without one, the plain reason (the
 * worked example in docs/controller.md shows it).
 */
function describeScaledDown(sts: StatefulSetSummary, service: ObservedService): string {
  const range = possibleOrdinals(sts);
  const autoscaler = range.autoscaler;
  const ordinal = service.target?.ordinal;
  const uncovered = ordinal !== undefined && (ordinal < range.start || ordinal >= range.end);
  if (autoscaler && uncovered) {
    const { maxReplicas } = autoscaler;
    const last = range.end - 1;
    const ordinals = range.start === last ? `ordinal ${last}` : `ordinals ${range.start}-${last}`;
    return sts.replicas > maxReplicas
      ? `its pod's ordinal is beyond the StatefulSet's ${sts.replicas} replicas (${ordinals}) and maxReplicas ${maxReplicas} of ${describeAutoscaler(autoscaler)}`
      : `its pod's ordinal is no longer covered by ${describeAutoscaler(autoscaler)} (maxReplicas ${maxReplicas}: ${ordinals})`;
  }
  if (sts.autoscaler && !autoscaler) {
    return `${DELETE_REASONS["scaled-down"]}: it has 0 replicas, and ${describeAutoscaler(sts.autoscaler)} does not scale a StatefulSet up from 0`;
  }
  return DELETE_REASONS["scaled-down"];
}

function isStatefulSetOwner(owner: ObservedService["controllerOwner"], name: string): boolean {
  return (
    owner !== null &&
    owner.kind === "StatefulSet" &&
    owner.apiVersion.startsWith("apps/") &&
    owner.name === name
  );
}

/** The managed-by label value the controller writes (exported for the Services cache). */
export function isManagedByController(labels: Readonly<Record<string, string>>): boolean {
  return labels[MANAGED_BY_LABEL] === FIELD_MANAGER;
}
