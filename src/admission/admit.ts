import type { StsguardConfig } from "../config/config.js";
import { LookupError } from "../errors.js";
import {
  evaluateGoverningService,
  evaluateService,
  evaluateStatefulSetChange,
  formatFinding,
  hasOrdinal,
  needsGoverningService,
  parsePodTarget,
  readPodNameSelector,
  summarizeStatefulSet,
  withReplicas,
  type Finding,
  type RuleId,
  type ServiceLookup,
  type StatefulSetLookup,
  type StatefulSetSummary,
} from "../policy/index.js";
import { readCount, readMap, readString } from "../policy/raw-object.js";
import type { StatefulSetSource } from "../statefulsets/source.js";
import { diffPatch } from "./patch.js";
import type {
  AdmissionMode,
  AdmissionRequest,
  AdmissionResult,
  AdmissionStatus,
  AdmissionSubject,
} from "./types.js";
import { toWarnings } from "./warnings.js";

export interface AdmitDeps {
  readonly source: StatefulSetSource;
  readonly config: StsguardConfig;
}

/** Rules whose verdict rests on what the source said about the StatefulSet. */
const LOOKUP_RULES: ReadonlySet<RuleId> = new Set([
  "ordinal-out-of-range",
  "statefulset-not-found",
  "selector-mismatch",
]);

const PREEXISTING_NOTE = " (already so before this update, so only a warning)";

const IGNORED: AdmissionResult = Object.freeze({
  allowed: true,
  status: null,
  patch: [],
  warnings: [],
  findings: [],
  subject: "ignored",
  lookupFailure: null,
});

/**
 * The admission decision for one request, with no HTTP in sight. `/mutate` never denies: it
 * returns the patch to the fixed object. `/validate` denies on errors and warns on warnings.
 * Anything that is not a per-pod Service, a StatefulSet or a StatefulSet scale is allowed as is.
 */
export async function admit(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
): Promise<AdmissionResult> {
  switch (classifyRequest(request)) {
    case "service":
      return admitService(request, mode, deps);
    case "statefulset":
      return mode === "validate" ? admitStatefulSet(request, deps) : IGNORED;
    case "scale":
      return mode === "validate" ? admitScale(request, deps) : IGNORED;
    case "ignored":
      return IGNORED;
  }
}

/** Cheap checks only: most requests end here as `ignored`. */
function classifyRequest(request: AdmissionRequest): AdmissionSubject {
  const { kind, operation, subResource } = request;
  if (operation !== "CREATE" && operation !== "UPDATE") return "ignored";
  if (subResource === null) {
    if (kind.group === "" && kind.kind === "Service") {
      return readPodNameSelector(request.object) ? "service" : "ignored";
    }
    if (kind.group === "apps" && kind.kind === "StatefulSet") return "statefulset";
    return "ignored";
  }
  const isStatefulSetScale =
    subResource === "scale" &&
    operation === "UPDATE" &&
    kind.group === "autoscaling" &&
    kind.kind === "Scale" &&
    request.resource?.group === "apps" &&
    request.resource.resource === "statefulsets";
  return isStatefulSetScale ? "scale" : "ignored";
}

async function admitService(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
): Promise<AdmissionResult> {
  const { source, config } = deps;
  const namespace = namespaceOf(request);
  const target = parsePodTarget(readPodNameSelector(request.object)?.value);
  const evaluate = (lookup: StatefulSetLookup): ReturnType<typeof evaluateService> =>
    evaluateService(
      request.object,
      {
        operation: request.operation === "UPDATE" ? "UPDATE" : "CREATE",
        lookup,
        oldService: request.oldObject ?? undefined,
        namespace,
      },
      config.policy,
    );

  let lookup: StatefulSetLookup = target
    ? await readLookup(() => source.lookup(namespace, target.statefulSet))
    : { status: "not-found" };
  let evaluation = evaluate(lookup);
  if (target && restsOnCache(evaluation.findings, lookup, mode, deps)) {
    // A lagging cache must never deny (or mislabel) a Service whose StatefulSet was just
    // created or scaled up: ask the API server before answering.
    lookup = await readLookup(() => source.lookupLive(namespace, target.statefulSet));
    evaluation = evaluate(lookup);
  }
  const failure = target && lookup.status === "unavailable" ? lookup.reason : null;

  if (mode === "mutate") {
    return {
      allowed: true,
      status: null,
      patch: diffPatch(request.object, evaluation.fixed),
      // Warnings come from /validate only; kubectl would print each one twice otherwise.
      warnings: [],
      findings: evaluation.findings,
      subject: "service",
      lookupFailure: failure,
    };
  }
  if (failure === null || !target) {
    return decide("service", evaluation.findings, null);
  }
  const service = `Service ${namespace}/${nameOf(request)}`;
  const statefulSet = `StatefulSet ${namespace}/${target.statefulSet}`;
  return decide("service", evaluation.findings, {
    reason: failure,
    deny: config.onLookupFailure === "deny",
    denial:
      `lookup-failure: ${statefulSet} could not be read (${failure}), so ${service} could not ` +
      `be checked against it; denied because onLookupFailure is deny, retry shortly`,
    warning:
      `lookup-failure: ${service} admitted without checking ${statefulSet} ` +
      `(onLookupFailure: allow): ${failure}`,
  });
}

/** Whether the answer depends on the cached lookup in a way a live read could change. */
function restsOnCache(
  findings: readonly Finding[],
  lookup: StatefulSetLookup,
  mode: AdmissionMode,
  deps: AdmitDeps,
): boolean {
  if (lookup.status === "unavailable") return false;
  if (mode === "validate") return findings.some((f) => LOOKUP_RULES.has(f.rule));
  // The mutating fix only depends on the StatefulSet for labels copied from it.
  return (
    lookup.status === "not-found" &&
    deps.config.policy.extraLabels.some((label) => "fromStatefulSetLabel" in label)
  );
}

async function admitStatefulSet(
  request: AdmissionRequest,
  deps: AdmitDeps,
): Promise<AdmissionResult> {
  const namespace = namespaceOf(request);
  const next = summarizeStatefulSet(request.object, namespace);
  if (!next) return IGNORED;
  const previous =
    request.operation === "UPDATE" ? summarizeStatefulSet(request.oldObject, namespace) : null;
  const [orphans, governing] = await Promise.all([
    checkOrphans("statefulset", next, previous, deps),
    checkGoverningService(next, deps),
  ]);
  if (governing.length === 0) return orphans;
  if (orphans.subject === "ignored") return decide("statefulset", governing, null);
  return {
    ...orphans,
    findings: [...governing, ...orphans.findings],
    warnings: toWarnings([...governing.map(formatFinding), ...orphans.warnings]),
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

/** A Scale carries no ordinals: the StatefulSet's start comes from the source. */
async function admitScale(request: AdmissionRequest, deps: AdmitDeps): Promise<AdmissionResult> {
  if (deps.config.policy.severities["orphaned-service"] === "off") return IGNORED;
  const namespace = namespaceOf(request);
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
    return orphanLookupFailure("scale", `StatefulSet ${namespace}/${name}`, lookup.reason, deps);
  }
  if (lookup.status === "not-found") return decide("scale", [], null);
  const current = lookup.statefulSet;
  return checkOrphans(
    "scale",
    withReplicas(current, replicas),
    withReplicas(current, oldReplicas),
    deps,
  );
}

/**
 * `orphaned-service` for a StatefulSet about to have `next`'s ordinal range. Services that were
 * already outside `previous`'s range only warn, like any pre-existing violation on UPDATE.
 */
async function checkOrphans(
  subject: AdmissionSubject,
  next: StatefulSetSummary,
  previous: StatefulSetSummary | null,
  deps: AdmitDeps,
): Promise<AdmissionResult> {
  const { policy } = deps.config;
  if (policy.severities["orphaned-service"] === "off") return IGNORED;
  const what = `StatefulSet ${next.namespace}/${next.name}`;
  let services;
  try {
    services = await deps.source.perPodServices(next.namespace, next.name);
  } catch (error: unknown) {
    if (!(error instanceof LookupError)) throw error;
    return orphanLookupFailure(subject, `the per-pod Services of ${what}`, error.message, deps);
  }
  const keepPrevious = previous !== null && policy.preexistingViolations === "warn";
  const isNew = (ordinal: number): boolean => !keepPrevious || hasOrdinal(previous, ordinal);
  const fresh = services.filter((s) => isNew(s.target.ordinal));
  const stale = services.filter((s) => !isNew(s.target.ordinal));
  const findings = [
    ...evaluateStatefulSetChange(next, fresh, policy),
    ...evaluateStatefulSetChange(next, stale, policy).map((f): Finding =>
      f.severity === "error"
        ? { ...f, severity: "warning", message: f.message + PREEXISTING_NOTE }
        : f,
    ),
  ];
  return decide(subject, findings, null);
}

/**
 * `orphaned-service` could not be checked. It is a warning rule by default, so a scale is not
 * blocked because the API was slow; only a configuration that made it an error and asks to
 * deny on lookup failures denies.
 */
function orphanLookupFailure(
  subject: AdmissionSubject,
  what: string,
  reason: string,
  deps: AdmitDeps,
): AdmissionResult {
  const { config } = deps;
  const deny =
    config.policy.severities["orphaned-service"] === "error" && config.onLookupFailure === "deny";
  return decide(subject, [], {
    reason,
    deny,
    denial:
      `lookup-failure: ${what} could not be read (${reason}), so orphaned per-pod Services ` +
      `could not be checked; denied because orphaned-service is an error and onLookupFailure is deny`,
    warning: `lookup-failure: orphaned per-pod Services not checked, ${what} could not be read: ${reason}`,
  });
}

interface LookupFailure {
  readonly reason: string;
  readonly deny: boolean;
  readonly denial: string;
  readonly warning: string;
}

/** The validating verdict: errors deny (403), warnings warn, a lookup failure as configured. */
function decide(
  subject: AdmissionSubject,
  findings: readonly Finding[],
  failure: LookupFailure | null,
): AdmissionResult {
  const errors = findings.filter((f) => f.severity === "error").map(formatFinding);
  const warnings = findings.filter((f) => f.severity === "warning").map(formatFinding);
  if (failure && !failure.deny) warnings.push(failure.warning);
  let status: AdmissionStatus | null = null;
  if (errors.length > 0) {
    const messages = failure?.deny ? [...errors, failure.denial] : errors;
    status = { code: 403, reason: "Forbidden", message: messages.join("; ") };
  } else if (failure?.deny) {
    // Not a policy verdict but an outage: 503 tells the user (and retrying clients) to try again.
    status = { code: 503, reason: "ServiceUnavailable", message: failure.denial };
  }
  return {
    allowed: status === null,
    status,
    patch: [],
    warnings: toWarnings(warnings),
    findings,
    subject,
    lookupFailure: failure?.reason ?? null,
  };
}

async function readLookup(read: () => Promise<StatefulSetLookup>): Promise<StatefulSetLookup> {
  try {
    return await read();
  } catch (error: unknown) {
    if (error instanceof LookupError) return { status: "unavailable", reason: error.message };
    throw error;
  }
}

function namespaceOf(request: AdmissionRequest): string {
  return (
    request.namespace ||
    readString(readMap(request.object, "metadata"), "namespace") ||
    readString(readMap(request.oldObject, "metadata"), "namespace") ||
    "default"
  );
}

function nameOf(request: AdmissionRequest): string {
  const metadata = readMap(request.object, "metadata");
  return (
    request.name ||
    readString(metadata, "name") ||
    readString(metadata, "generateName") ||
    "<unnamed>"
  );
}
