/**
 * The AdmissionResult an answer becomes: the validating verdict (deny, warn or allow, shaped by
 * the namespace's mode), the mutating patch, and what a lookup failure adds to either.
 */
import type { GuardrailDecision } from "../guardrails/index.js";
import {
  formatFinding,
  type PodTarget,
  type ServiceEvaluation,
  type StatefulSetLookup,
} from "../policy/index.js";
import { nameOf } from "./classify-request.js";
import type { AdmitDeps } from "./deps.js";
import { diffPatch } from "./patch.js";
import { decideFor, type Guard } from "./request-guard.js";
import type {
  AdmissionMode,
  AdmissionRequest,
  AdmissionResult,
  AdmissionStatus,
  AdmissionSubject,
} from "./types.js";
import { toWarnings } from "./warnings.js";

export const IGNORED: AdmissionResult = Object.freeze({
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

/** The Service's answer once its StatefulSet is known (or known to be unreadable). */
export function serviceVerdict(
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
 * `orphaned-service` could not be checked. It is a warning rule by default, so a scale is not
 * blocked because the API was slow; only a configuration that made it an error and asks to
 * deny on lookup failures denies.
 */
export function orphanLookupFailure(
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
export function toVerdict(
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
