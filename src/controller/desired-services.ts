/**
 * The Services the controller keeps for one StatefulSet: exactly what `stsguard generate` prints
 * (so they pass admission by construction), plus what makes them the controller's own: an
 * ownerReference to the StatefulSet (the garbage collector removes them with it) and the
 * managed-by label. Pure: no I/O.
 */
import type { ControllerLimits } from "../config/controller.js";
import { matchesAnyGlob, matchesSelector } from "../guardrails/index.js";
import {
  GenerateError,
  generatePerPodServices,
  readContainerPorts,
} from "../manifests/per-pod-services.js";
import { summarizeStatefulSet, type PolicyConfig } from "../policy/index.js";
import type { AutoscalerSummary } from "../policy/types.js";
import { readMap, readString } from "../policy/raw-object.js";
import { approvalAnnotationKey, type ApprovalCheck } from "./approval.js";
import { exposeAnnotationKeys, readExposeDecision, type ExposeRequest } from "./expose.js";

/** The field manager of every server-side apply, and the value of the managed-by label. */
export const FIELD_MANAGER = "stsguard-controller";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";

export type ApplyConfiguration = Record<string, unknown>;

export type DesiredServices =
  | { readonly kind: "off" }
  | {
      readonly kind: "services";
      /** One per pod: every ordinal in `[start, start + replicas)`. */
      readonly services: readonly ApplyConfiguration[];
      /** For the `keptOrdinals` asked for: Services kept beyond the pods (plan.ts). */
      readonly kept: readonly ApplyConfiguration[];
    }
  | { readonly kind: "invalid"; readonly problems: readonly string[] }
  /** Asks for more than the configuration's `controller:` limits allow: nothing is written. */
  | { readonly kind: "not-allowed"; readonly problems: readonly string[] }
  /** No valid approval (approval.ts): nobody entitled asked for it, nothing is written. */
  | { readonly kind: "not-approved"; readonly problems: readonly string[] };

/** What the controller may do, and what it knows of the StatefulSet's namespace. */
export interface ControllerScope {
  readonly limits: ControllerLimits;
  /** The namespace's labels; null when unknown (a namespaceSelector then does not match). */
  readonly namespaceLabels: Readonly<Record<string, string>> | null;
  /** Checks the approval of the expose annotations; null: not checked. */
  readonly approval?: ((statefulSet: unknown) => ApprovalCheck) | null;
  /**
   * The namespace's HorizontalPodAutoscalers of StatefulSets (any target): the one that scales
   * this StatefulSet widens the ordinals whose Services are kept (plan.ts). Absent: none.
   */
  readonly autoscalers?: readonly AutoscalerSummary[];
}

/**
 * What the StatefulSet's annotations ask for; `statefulSet` is a raw apps/v1 StatefulSet. The
 * limits are checked before any Service is built: `replicas: 1000000` costs a comparison.
 * `keptOrdinals` are ordinals beyond the pods whose Services the controller keeps (those of pods
 * an autoscaler scaled in): built too, so they follow the annotations like the others. They are
 * ordinals of Services that exist, so they cost no more than the cache already holds.
 */
export function buildDesiredServices(
  statefulSet: unknown,
  policy: PolicyConfig,
  scope: ControllerScope,
  keptOrdinals: readonly number[] = [],
): DesiredServices {
  const decision = readExposeDecision(statefulSet, policy.labelPrefix);
  if (decision.kind !== "on") return decision;
  const metadata = readMap(statefulSet, "metadata");
  const name = readString(metadata, "name");
  const namespace = readString(metadata, "namespace");
  const uid = readString(metadata, "uid");
  if (!name || !namespace || !uid) {
    return { kind: "invalid", problems: ["the StatefulSet has no name, namespace or uid"] };
  }
  const { request } = decision;
  const approval = scope.approval?.(statefulSet) ?? null;
  if (approval && approval.status !== "approved") {
    const key = approvalAnnotationKey(policy.labelPrefix);
    return {
      kind: "not-approved",
      problems: [
        approval.status === "missing"
          ? `the expose annotations were not approved at admission (no ${key}): they were written while stsguard's webhook was not called, or before it was installed; an update of the StatefulSet by a user who may create Services in ${namespace} approves them`
          : `annotation ${key} does not match the expose annotations (changed since they were approved, or not written by stsguard); an update of the StatefulSet by a user who may create Services in ${namespace} approves them`,
      ],
    };
  }
  const undeclared = undeclaredPorts(statefulSet, request);
  if (undeclared.length > 0) {
    const key = exposeAnnotationKeys(policy.labelPrefix).ports;
    return {
      kind: "invalid",
      problems: [
        `annotation ${key}: port ${undeclared.join(", ")} is not a container port of the pod template (only declared ports may be exposed)`,
      ],
    };
  }
  const problems = exceededLimits(statefulSet, namespace, request, scope);
  if (problems.length > 0) return { kind: "not-allowed", problems };
  const options = {
    type: request.type,
    ports: request.ports,
    policy,
    defaultNamespace: namespace,
    portsFrom: `annotation ${exposeAnnotationKeys(policy.labelPrefix).ports}`,
  };
  let generated: Record<string, unknown>[] | null;
  let generatedKept: Record<string, unknown>[] | null;
  try {
    generated = generatePerPodServices(statefulSet, options);
    generatedKept =
      keptOrdinals.length > 0
        ? generatePerPodServices(statefulSet, { ...options, ordinals: keptOrdinals })
        : [];
  } catch (error: unknown) {
    if (error instanceof GenerateError) return { kind: "invalid", problems: [error.message] };
    throw error;
  }
  if (!generated || !generatedKept) {
    return { kind: "invalid", problems: ["not an apps/v1 StatefulSet"] };
  }
  const ownerReference = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  const hasAnnotations = Object.keys(request.serviceAnnotations).length > 0;
  const toApplyConfiguration = (service: Record<string, unknown>): ApplyConfiguration => {
    const serviceMetadata = readMap(service, "metadata") ?? {};
    const labels = readMap(serviceMetadata, "labels") ?? {};
    return {
      ...service,
      metadata: {
        ...serviceMetadata,
        // The required labels come last: a configured extra label cannot override them.
        labels: { [MANAGED_BY_LABEL]: FIELD_MANAGER, ...labels },
        ...(hasAnnotations ? { annotations: { ...request.serviceAnnotations } } : {}),
        ownerReferences: [{ ...ownerReference }],
      },
    };
  };
  return {
    kind: "services",
    services: generated.map(toApplyConfiguration),
    kept: generatedKept.map(toApplyConfiguration),
  };
}

/** Port numbers in expose-ports that no container of the pod template declares. */
function undeclaredPorts(statefulSet: unknown, request: ExposeRequest): string[] {
  const declared = new Set(readContainerPorts(statefulSet).map((port) => port.containerPort));
  return request.ports.filter((port) => /^\d+$/.test(port) && !declared.has(Number(port)));
}

/** Each `controller:` limit the request goes beyond, naming the setting. */
function exceededLimits(
  statefulSet: unknown,
  namespace: string,
  request: ExposeRequest,
  scope: ControllerScope,
): string[] {
  const { limits, namespaceLabels } = scope;
  const problems: string[] = [];
  if (!matchesAnyGlob(limits.namespaces, namespace)) {
    problems.push(
      `namespace ${namespace} is not one the controller may write in (controller.namespaces)`,
    );
  } else if (
    limits.namespaceSelector &&
    !(namespaceLabels && matchesSelector(limits.namespaceSelector, namespaceLabels))
  ) {
    problems.push(
      `namespace ${namespace} does not match controller.namespaceSelector` +
        (namespaceLabels ? "" : " (its labels could not be read)"),
    );
  }
  if (!limits.serviceTypes.includes(request.type)) {
    problems.push(
      `Service type ${request.type} is not allowed (controller.serviceTypes: ${limits.serviceTypes.join(", ")})`,
    );
  }
  const refusedKeys = Object.keys(request.serviceAnnotations).filter(
    (key) => !matchesAnyGlob(limits.serviceAnnotations, key),
  );
  if (refusedKeys.length > 0) {
    problems.push(
      `annotation ${refusedKeys.join(", ")} may not be copied onto Services (controller.serviceAnnotations ${
        limits.serviceAnnotations.length > 0
          ? `allows ${limits.serviceAnnotations.join(", ")}`
          : "allows none"
      })`,
    );
  }
  const replicas = summarizeStatefulSet(statefulSet, namespace)?.replicas ?? 0;
  if (replicas > limits.maxServicesPerStatefulSet) {
    problems.push(
      `${replicas} replicas would need ${replicas} Services; at most ${limits.maxServicesPerStatefulSet} per StatefulSet (controller.maxServicesPerStatefulSet)`,
    );
  }
  return problems;
}
