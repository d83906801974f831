/**
 * A per-pod Service's answer: from the StatefulSet cache when it holds the StatefulSet, and then
 * synchronously (no promise, no microtask hop: the common request). Only when the cached answer
 * would deny, or patch labels copied from the StatefulSet, is it confirmed by a live read of the
 * API server first: a lagging cache must never deny a Service whose StatefulSet was just created
 * or scaled up. A cache that cannot answer means a read (`lookup`) and a promise.
 */
import { LookupError } from "../errors.js";
import {
  evaluateService,
  parsePodTarget,
  readPodNameSelector,
  type Finding,
  type PodTarget,
  type RuleId,
  type ServiceEvaluation,
  type StatefulSetLookup,
} from "../policy/index.js";
import type { AdmitDeps } from "./deps.js";
import type { Guard } from "./request-guard.js";
import type { AdmissionMode, AdmissionRequest, AdmissionResult } from "./types.js";
import { serviceVerdict } from "./verdict.js";

/** Rules whose verdict rests on what the source said about the StatefulSet. */
const LOOKUP_RULES: ReadonlySet<RuleId> = new Set([
  "ordinal-out-of-range",
  "statefulset-not-found",
  "selector-mismatch",
]);

export function admitService(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
  guard: Guard,
): AdmissionResult | Promise<AdmissionResult> {
  const target = parsePodTarget(readPodNameSelector(request.object)?.value);
  if (!target) {
    const lookup: StatefulSetLookup = { status: "not-found" };
    const evaluation = evaluateAdmittedService(request, guard, lookup, deps);
    return serviceVerdict(request, mode, deps, guard, null, lookup, evaluation);
  }
  const lookup = deps.source.lookupCached(guard.namespace, target.statefulSet);
  if (lookup === null) return admitServiceAfterReads(request, mode, deps, guard, target, null);
  const evaluation = evaluateAdmittedService(request, guard, lookup, deps);
  if (restsOnCache(evaluation.findings, lookup, mode, deps)) {
    return admitServiceAfterReads(request, mode, deps, guard, target, { lookup, evaluation });
  }
  return serviceVerdict(request, mode, deps, guard, target, lookup, evaluation);
}

/**
 * The Service's answer when the source must be read: its cache could not answer (`cached`
 * null), or the cache's answer would deny or patch and is confirmed live first.
 */
async function admitServiceAfterReads(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
  guard: Guard,
  target: PodTarget,
  cached: { lookup: StatefulSetLookup; evaluation: ServiceEvaluation } | null,
): Promise<AdmissionResult> {
  const { source } = deps;
  const { namespace } = guard;
  let lookup =
    cached?.lookup ?? (await readLookup(() => source.lookup(namespace, target.statefulSet)));
  let evaluation = cached?.evaluation ?? evaluateAdmittedService(request, guard, lookup, deps);
  if (restsOnCache(evaluation.findings, lookup, mode, deps)) {
    // A lagging cache must never deny (or mislabel) a Service whose StatefulSet was just
    // created or scaled up: ask the API server before answering.
    lookup = await readLookup(() => source.lookupLive(namespace, target.statefulSet));
    evaluation = evaluateAdmittedService(request, guard, lookup, deps);
  }
  return serviceVerdict(request, mode, deps, guard, target, lookup, evaluation);
}

function evaluateAdmittedService(
  request: AdmissionRequest,
  guard: Guard,
  lookup: StatefulSetLookup,
  deps: AdmitDeps,
): ServiceEvaluation {
  return evaluateService(
    request.object,
    {
      operation: request.operation === "UPDATE" ? "UPDATE" : "CREATE",
      lookup,
      oldService: request.oldObject ?? undefined,
      namespace: guard.namespace,
    },
    deps.config.policy,
  );
}

/**
 * Whether a live read could change the answer: a denial (an error from a rule that rests on the
 * lookup) or a patch copied from the StatefulSet's labels. A warning alone never pays for one:
 * `statefulset-not-found` is the normal order of a Helm install (Services before the
 * StatefulSet), and a fresh cache lags the API server by a watch event at most. A cache that is
 * not fresh is never asked: `lookup` itself reads live then.
 */
function restsOnCache(
  findings: readonly Finding[],
  lookup: StatefulSetLookup,
  mode: AdmissionMode,
  deps: AdmitDeps,
): boolean {
  if (lookup.status === "unavailable") return false;
  if (mode === "validate") {
    return findings.some((f) => f.severity === "error" && LOOKUP_RULES.has(f.rule));
  }
  // The mutating fix only depends on the StatefulSet for labels copied from it.
  return (
    lookup.status === "not-found" &&
    deps.config.policy.extraLabels.some((label) => "fromStatefulSetLabel" in label)
  );
}

/** A StatefulSet read; a read that fails (LookupError) is an `unavailable` answer. */
export async function readLookup(
  read: () => Promise<StatefulSetLookup>,
): Promise<StatefulSetLookup> {
  try {
    return await read();
  } catch (error: unknown) {
    if (error instanceof LookupError) return { status: "unavailable", reason: error.message };
    throw error;
  }
}
