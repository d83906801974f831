/**
 * What one reconcile of a StatefulSet must do, decided from the caches alone (pure). The rules
 * that keep the controller from fighting people:
 * - it deletes only Services it created (managed-by label or its apply in managedFields) AND
 *   that name a StatefulSet of this name as controller owner (this uid, or a former one's);
 * - a Service of a wanted name that is not its own is reported, never written;
 * - bad annotations, and requests beyond the configuration's limits, are reported and nothing is
 *   written or deleted.
 */
import type { PolicyConfig } from "../policy/index.js";
import type { PodTarget } from "../policy/types.js";
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
  | { readonly kind: "delete"; readonly service: ObservedService; readonly reason: DeleteReason }
  | { readonly kind: "not-owned"; readonly service: ObservedService }
  | { readonly kind: "invalid"; readonly problems: readonly string[] }
  | { readonly kind: "not-allowed"; readonly problems: readonly string[] }
  | { readonly kind: "not-approved"; readonly problems: readonly string[] };

/**
 * `statefulSet` is the raw object (undefined when it no longer exists); `services` are the
 * Services of its namespace.
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
    .map((service) => ({ kind: "delete", service, reason: "statefulset-replaced" }));
  if (statefulSet === undefined) return actions;

  const desired = buildDesiredServices(statefulSet, policy, scope);
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
  const reason: DeleteReason = desired.kind === "off" ? "not-exposed" : "scaled-down";
  for (const service of current) {
    if (!wantedNames.has(service.name) && !service.deleting) {
      actions.push({ kind: "delete", service, reason });
    }
  }
  return actions;
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
