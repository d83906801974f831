/**
 * A StatefulSet's create or update, and a scale of one: `orphaned-service` (per-pod Services
 * its new ordinal range leaves behind, widened by its autoscaler; a finding resting on cached
 * autoscalers is confirmed by a live read) and, for the StatefulSet, `governing-service`.
 */
import { LookupError } from "../errors.js";
import {
  evaluateGoverningService,
  evaluateStatefulSetChange,
  formatFinding,
  hasOrdinal,
  needsGoverningService,
  summarizeStatefulSet,
  withAutoscaler,
  withReplicas,
  type AutoscalerSummary,
  type Finding,
  type PerPodServiceSummary,
  type ServiceLookup,
  type StatefulSetSummary,
} from "../policy/index.js";
import { readCount, readMap } from "../policy/raw-object.js";
import { readLookup } from "./cached-then-live.js";
import { nameOf } from "./classify-request.js";
import type { AdmitDeps } from "./deps.js";
import { decideFor, type Guard } from "./request-guard.js";
import type { AdmissionRequest, AdmissionResult, AdmissionSubject } from "./types.js";
import { IGNORED, orphanLookupFailure, toVerdict } from "./verdict.js";
import { toWarnings } from "./warnings.js";

const PREEXISTING_NOTE = " (already so before this update, so only a warning)";

export async function admitStatefulSet(
  request: AdmissionRequest,
  deps: AdmitDeps,
  guard: Guard,
): Promise<AdmissionResult> {
  const { namespace } = guard;
  const next = summarizeStatefulSet(request.object, namespace);
  if (!next) return IGNORED;
  const previous =
    request.operation === "UPDATE" ? summarizeStatefulSet(request.oldObject, namespace) : null;
  const [orphans, governing] = await Promise.all([
    checkOrphans("statefulset", next, previous, deps, guard),
    checkGoverningService(next, deps),
  ]);
  if (governing.length === 0) return orphans;
  const decision = decideFor(guard, governing, "StatefulSet", next.name, next.name, deps.config);
  if (orphans.subject === "ignored") return toVerdict("statefulset", decision, null);
  return {
    ...orphans,
    findings: [...decision.findings, ...orphans.findings],
    warnings: decision.showWarnings
      ? toWarnings([...decision.reported.map(formatFinding), ...orphans.warnings])
      : orphans.warnings,
  };
}

/**
 * `governing-service` at admission is a warning whatever its configured severity: Helm and
 * kubectl may create the Service after the StatefulSet. A lookup that fails gives no warning
 * (the pods run either way; `audit` and the findings gauge report it later).
 */
async function checkGoverningService(sts: StatefulSetSummary, deps: AdmitDeps): Promise<Finding[]> {
  const policy = deps.config.policy;
  if (policy.severities["governing-service"] === "off") return [];
  let lookup: ServiceLookup = { status: "not-found" };
  if (needsGoverningService(sts, policy)) {
    try {
      lookup = await deps.source.lookupService(sts.namespace, sts.serviceName);
    } catch (error: unknown) {
      if (!(error instanceof LookupError)) throw error;
      lookup = { status: "unavailable", reason: error.message };
    }
  }
  return evaluateGoverningService(sts, lookup, policy).map((f) => ({
    ...f,
    severity: "warning",
  }));
}

/**
 * A Scale carries no ordinals: the StatefulSet's start comes from the source. Who scales (a
 * person, the HPA controller as system:kube-controller-manager or as its own ServiceAccount)
 * makes no difference: the StatefulSet's autoscaler, if any, widens the range all the same.
 */
export async function admitScale(
  request: AdmissionRequest,
  deps: AdmitDeps,
  guard: Guard,
): Promise<AdmissionResult> {
  if (deps.config.policy.severities["orphaned-service"] === "off") return IGNORED;
  const { namespace } = guard;
  const name = nameOf(request);
  // ScaleSpec.replicas is omitempty: a scale to zero arrives without it.
  const replicas = readCount(readMap(request.object, "spec"), "replicas", 0);
  const oldReplicas = readCount(readMap(request.oldObject, "spec"), "replicas", 0);
  let lookup = await readLookup(() => deps.source.lookup(namespace, name));
  if (lookup.status === "not-found") {
    // A scale means the StatefulSet exists; the cache may not have seen it yet.
    lookup = await readLookup(() => deps.source.lookupLive(namespace, name));
  }
  if (lookup.status === "unavailable") {
    const failure = { failed: `StatefulSet ${namespace}/${name}`, reason: lookup.reason };
    return orphanLookupFailure("scale", failure, deps, guard);
  }
  if (lookup.status === "not-found") {
    return toVerdict("scale", decideFor(guard, [], "StatefulSet", name, name, deps.config), null);
  }
  const current = lookup.statefulSet;
  return checkOrphans(
    "scale",
    withReplicas(current, replicas),
    withReplicas(current, oldReplicas),
    deps,
    guard,
  );
}

/**
 * `orphaned-service` for a StatefulSet about to have `next`'s ordinal range, widened by the
 * autoscaler that scales it. Services that were already outside `previous`'s range only warn,
 * like any pre-existing violation on UPDATE. A finding that rests on cached autoscalers is
 * confirmed with a live read first, a warning too: Helm creates a chart's HPA just before its
 * StatefulSet (HorizontalPodAutoscaler precedes StatefulSet in its install order), so the cache
 * may well lag by exactly that HPA, and an HPA whose maxReplicas was just raised must not deny.
 * Findings are rare (a scale to 0, Services really left behind), so the read costs little.
 */
async function checkOrphans(
  subject: AdmissionSubject,
  next: StatefulSetSummary,
  previous: StatefulSetSummary | null,
  deps: AdmitDeps,
  guard: Guard,
): Promise<AdmissionResult> {
  const { policy } = deps.config;
  if (policy.severities["orphaned-service"] === "off") return IGNORED;
  const { source } = deps;
  const { namespace, name } = next;
  const what = `StatefulSet ${namespace}/${name}`;
  const autoscalersWhat = `the autoscalers in namespace ${namespace}`;
  const [services, cachedAutoscalers] = await Promise.all([
    readForOrphans(source.perPodServices(namespace, name), `the per-pod Services of ${what}`),
    readForOrphans(source.autoscalers(namespace), autoscalersWhat),
  ]);
  if ("failed" in services) return orphanLookupFailure(subject, services, deps, guard);
  if ("failed" in cachedAutoscalers) {
    return orphanLookupFailure(subject, cachedAutoscalers, deps, guard);
  }
  let findings = findOrphans(next, previous, services.read, cachedAutoscalers.read, deps);
  if (findings.length > 0) {
    const live = await readForOrphans(source.autoscalersLive(namespace), autoscalersWhat);
    if ("failed" in live) return orphanLookupFailure(subject, live, deps, guard);
    findings = findOrphans(next, previous, services.read, live.read, deps);
  }
  const decision = decideFor(guard, findings, "StatefulSet", name, name, deps.config);
  return toVerdict(subject, decision, null);
}

function findOrphans(
  next: StatefulSetSummary,
  previous: StatefulSetSummary | null,
  services: readonly PerPodServiceSummary[],
  autoscalers: readonly AutoscalerSummary[],
  deps: AdmitDeps,
): Finding[] {
  const { policy } = deps.config;
  const after = withAutoscaler(next, autoscalers);
  const before = previous && withAutoscaler(previous, autoscalers);
  const keepPrevious = before !== null && policy.preexistingViolations === "warn";
  const isNew = (ordinal: number): boolean => !keepPrevious || hasOrdinal(before, ordinal);
  const fresh = services.filter((s) => isNew(s.target.ordinal));
  const stale = services.filter((s) => !isNew(s.target.ordinal));
  return [
    ...evaluateStatefulSetChange(after, fresh, policy),
    ...evaluateStatefulSetChange(after, stale, policy).map((f): Finding =>
      f.severity === "error"
        ? { ...f, severity: "warning", message: f.message + PREEXISTING_NOTE }
        : f,
    ),
  ];
}

/** What a read `orphaned-service` needs gave, or which read failed and why. */
type OrphanRead<T> = { readonly read: T } | { readonly failed: string; readonly reason: string };

async function readForOrphans<T>(read: Promise<T>, what: string): Promise<OrphanRead<T>> {
  try {
    return { read: await read };
  } catch (error: unknown) {
    if (error instanceof LookupError) return { failed: what, reason: error.message };
    throw error;
  }
}
