import type { StsguardConfig } from "../config/config.js";
import { LookupError } from "../errors.js";
import {
  decide,
  namespaceMode,
  usesNamespaceLabels,
  type GuardrailDecision,
  type GuardrailSubject,
  type Mode,
  type NamespaceLabels,
} from "../guardrails/index.js";
import type { NamespaceSource } from "../namespaces/source.js";
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
  withAutoscaler,
  withReplicas,
  type AutoscalerSummary,
  type Finding,
  type PerPodServiceSummary,
  type PodTarget,
  type RuleId,
  type ServiceEvaluation,
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
  /** Namespace labels for rules and exemptions that select by label; absent: none known. */
  readonly namespaces?: NamespaceSource;
  /** The clock exemptions expire by; default the wall clock. */
  readonly now?: () => Date;
  /**
   * With the controller: /mutate of a StatefulSet checks who changes its expose annotations and
   * approves them (src/controller/approval-admission.ts).
   */
  readonly exposeApproval?: (request: AdmissionRequest) => Promise<AdmissionResult>;
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
  guardMode: null,
  exemptions: [],
  monitored: null,
});

/**
 * The admission decision for one request, with no HTTP in sight. `/mutate` never denies: it
 * returns the patch to the fixed object. `/validate` denies on errors and warns on warnings.
 * Anything that is not a per-pod Service, a StatefulSet or a StatefulSet scale is allowed as is.
 * The namespace's mode and the exemptions (src/guardrails, the same decision `check` makes)
 * then shape the answer: `warn` never denies, `monitor` allows untouched, `off` skips.
 *
 * A Service whose StatefulSet (and namespace labels, where rules need them) the sources hold in
 * memory is answered synchronously: the common request then costs the webhook no microtask hop.
 * Anything that needs a read returns a promise.
 */
export function admit(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
): AdmissionResult | Promise<AdmissionResult> {
  const subject = classifyRequest(request);
  if (mode === "mutate" && subject === "statefulset" && deps.exposeApproval)
    return deps.exposeApproval(request);
  if (subject === "ignored" || (mode === "mutate" && subject !== "service")) return IGNORED;
  const namespace = namespaceOf(request);
  const labels = namespaceLabelsInMemory(namespace, deps);
  if (labels === undefined) {
    return readNamespaceLabels(namespace, deps.namespaces).then((read) =>
      admitSubject(subject, mode, deps, toGuard(request, namespace, read, deps)),
    );
  }
  return admitSubject(subject, mode, deps, toGuard(request, namespace, labels, deps));
}

function admitSubject(
  subject: Exclude<AdmissionSubject, "ignored">,
  mode: AdmissionMode,
  deps: AdmitDeps,
  guard: Guard,
): AdmissionResult | Promise<AdmissionResult> {
  // `off`: allowed untouched, before any StatefulSet lookup.
  if (guard.mode === "off") return { ...IGNORED, subject, guardMode: "off" };
  switch (subject) {
    case "service":
      return admitService(guard.request, mode, deps, guard);
    case "statefulset":
      return admitStatefulSet(guard.request, deps, guard);
    case "scale":
      return admitScale(guard.request, deps, guard);
  }
}

/** What the guardrails need to know of a request, read once. */
interface Guard {
  readonly mode: Mode;
  readonly namespace: string;
  readonly labels: NamespaceLabels;
  readonly request: AdmissionRequest;
  readonly now: Date;
}

function toGuard(
  request: AdmissionRequest,
  namespace: string,
  labels: NamespaceLabels,
  deps: AdmitDeps,
): Guard {
  return {
    mode: namespaceMode(namespace, labels, deps.config).mode,
    namespace,
    labels,
    request,
    now: deps.now?.() ?? new Date(),
  };
}

/**
 * The namespace's labels when no read is needed: null when no rule needs them (or no source
 * knows them), undefined when only a read of the namespace source can tell.
 */
function namespaceLabelsInMemory(namespace: string, deps: AdmitDeps): NamespaceLabels | undefined {
  if (!deps.namespaces || !usesNamespaceLabels(deps.config.guardrails)) return null;
  const cached = deps.namespaces.lookupCached(namespace);
  if (cached === null) return undefined;
  return cached.status === "found" ? cached.namespace.labels : null;
}

/**
 * Unknown (null) when the source cannot tell. Namespace rules that select by label then count
 * as the strictest they could be, and exemptions that need labels do not apply.
 */
async function readNamespaceLabels(
  namespace: string,
  namespaces: NamespaceSource | undefined,
): Promise<NamespaceLabels> {
  if (!namespaces) return null;
  try {
    const lookup = await namespaces.lookup(namespace);
    return lookup.status === "found" ? lookup.namespace.labels : null;
  } catch (error: unknown) {
    if (error instanceof LookupError) return null;
    throw error;
  }
}

function decideFor(
  guard: Guard,
  findings: readonly Finding[],
  kind: GuardrailSubject["kind"],
  name: string,
  statefulSet: string | null,
  config: StsguardConfig,
): GuardrailDecision {
  const subject: GuardrailSubject = {
    kind,
    namespace: guard.namespace,
    name,
    statefulSet,
    namespaceLabels: guard.labels,
    user: guard.request.userInfo,
  };
  return decide(findings, subject, config, guard.now);
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

function admitService(
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

/** The Service's answer once its StatefulSet is known (or known to be unreadable). */
function serviceVerdict(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
  guard: Guard,
  target: PodTarget | null,
  lookup: StatefulSetLookup,
  evaluation: ServiceEvaluation,
): AdmissionResult {
  const { config } = deps;
  const { namespace } = guard;
  const failure = target && lookup.status === "unavailable" ? lookup.reason : null;
  const decision = decideFor(
    guard,
    evaluation.findings,
    "Service",
    nameOf(request),
    target?.statefulSet ?? null,
    config,
  );

  if (mode === "mutate") {
    const patch = diffPatch(request.object, evaluation.fixed);
    return {
      allowed: true,
      status: null,
      // `monitor` changes nothing and only counts the patch it would have sent.
      patch: decision.applyFixes ? patch : [],
      // Warnings come from /validate only; kubectl would print each one twice otherwise.
      warnings: [],
      findings: decision.findings,
      subject: "service",
      lookupFailure: failure,
      guardMode: decision.mode,
      exemptions: decision.applied.map((a) => a.name),
      monitored: decision.mode === "monitor" ? { allowed: true, patchOps: patch.length } : null,
    };
  }
  if (failure === null || !target) {
    return toVerdict("service", decision, null);
  }
  const service = `Service ${namespace}/${nameOf(request)}`;
  const statefulSet = `StatefulSet ${namespace}/${target.statefulSet}`;
  return toVerdict("service", decision, {
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

async function admitStatefulSet(
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
async function admitScale(
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

/**
 * `orphaned-service` could not be checked. It is a warning rule by default, so a scale is not
 * blocked because the API was slow; only a configuration that made it an error and asks to
 * deny on lookup failures denies.
 */
function orphanLookupFailure(
  subject: AdmissionSubject,
  failure: { readonly failed: string; readonly reason: string },
  deps: AdmitDeps,
  guard: Guard,
): AdmissionResult {
  const { failed: what, reason } = failure;
  const { config } = deps;
  const name = nameOf(guard.request);
  const deny =
    config.policy.severities["orphaned-service"] === "error" && config.onLookupFailure === "deny";
  return toVerdict(subject, decideFor(guard, [], "StatefulSet", name, name, config), {
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

/**
 * The validating verdict. In `enforce`, errors deny (403), warnings warn, and a lookup failure
 * is decided by onLookupFailure. In `warn` nothing is denied: errors (and a lookup failure that
 * would deny) come back as warnings saying so. In `monitor` the answer is a plain allow and
 * `monitored` keeps what enforce would have answered, for logs and metrics.
 */
function toVerdict(
  subject: AdmissionSubject,
  decision: GuardrailDecision,
  failure: LookupFailure | null,
): AdmissionResult {
  const { mode } = decision;
  const errors = decision.reported.filter((f) => f.severity === "error").map(formatFinding);
  const warnings = decision.reported.filter((f) => f.severity === "warning").map(formatFinding);
  if (failure && !failure.deny) warnings.push(failure.warning);
  if (failure?.deny && mode === "warn") {
    warnings.push(`would have been denied (namespace is in warn mode): ${failure.denial}`);
  }
  let status: AdmissionStatus | null = null;
  if (mode === "enforce") {
    if (errors.length > 0) {
      const messages = failure?.deny ? [...errors, failure.denial] : errors;
      status = { code: 403, reason: "Forbidden", message: messages.join("; ") };
    } else if (failure?.deny) {
      // Not a policy verdict but an outage: 503 tells the user (and retrying clients) to try again.
      status = { code: 503, reason: "ServiceUnavailable", message: failure.denial };
    }
  }
  const wouldDeny = decision.outcome === "denied" || failure?.deny === true;
  return {
    allowed: status === null,
    status,
    patch: [],
    warnings: decision.showWarnings ? toWarnings(warnings) : [],
    findings: decision.findings,
    subject,
    lookupFailure: failure?.reason ?? null,
    guardMode: mode,
    exemptions: decision.applied.map((a) => a.name),
    monitored: mode === "monitor" ? { allowed: !wouldDeny, patchOps: 0 } : null,
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
