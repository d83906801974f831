import type { Finding, RuleId } from "../policy/types.js";
import { formatInstant } from "./instant.js";
import { matchesAnyGlob, matchesSelector } from "./match.js";
import {
  namespaceMode,
  type GuardrailSettings,
  type NamespaceLabels,
  type NamespaceModeResult,
} from "./namespace-mode.js";
import type { Exemption, Mode } from "./types.js";

/** Who sent the request (AdmissionReview `userInfo`); null offline, where it is not known. */
export interface RequestUser {
  readonly username: string;
  readonly groups: readonly string[];
}

/** The object the findings are about, and what exemptions match on. */
export interface GuardrailSubject {
  readonly kind: "Service" | "StatefulSet";
  readonly namespace: string;
  readonly name: string;
  /** A Service's target StatefulSet (null if its selector does not parse), or the StatefulSet itself. */
  readonly statefulSet: string | null;
  readonly namespaceLabels: NamespaceLabels;
  readonly user: RequestUser | null;
}

/** What the findings amount to where the mode is `enforce`. */
export type Outcome = "allowed" | "warned" | "denied";

export interface AppliedExemption {
  readonly name: string;
  readonly reason: string;
  /** Epoch milliseconds; null: no expiry. */
  readonly expiresAt: number | null;
  /** The rules whose errors it turned into warnings for this subject. */
  readonly rules: readonly RuleId[];
}

/** Facts an exemption needs that the caller did not have. */
export type MissingFact = "user" | "groups" | "namespaceLabels";

export interface UnevaluatedExemption {
  readonly name: string;
  /** What it would need to be evaluated: offline there is no user, and maybe no Namespace object. */
  readonly missing: readonly MissingFact[];
  /** The errors it might have lifted, which stay errors here. */
  readonly rules: readonly RuleId[];
}

export interface GuardrailDecision {
  readonly mode: Mode;
  /** How the mode was found; see NamespaceModeResult. */
  readonly namespaceMode: NamespaceModeResult;
  /** The engine's findings after exemptions, before the mode: lifted errors are warnings. */
  readonly findings: readonly Finding[];
  /**
   * The findings as this mode shows them to whoever sent the object: as `findings` in
   * `enforce`; in `warn` every error is a warning that says it would have been denied; none in
   * `monitor` (only logs and metrics see it: `findings` and `outcome`) and `off`. The webhook
   * answers with these, and `check` prints these.
   */
  readonly reported: readonly Finding[];
  /** Exemptions that lifted at least one error of this subject. */
  readonly applied: readonly AppliedExemption[];
  /** Exemptions that matched an error but had expired; that error stays an error. */
  readonly expired: readonly AppliedExemption[];
  readonly unevaluated: readonly UnevaluatedExemption[];
  /** What `findings` amount to in `enforce`: in `monitor`, what would have happened. */
  readonly outcome: Outcome;
  /** Deny the request (only in `enforce`, with errors left). */
  readonly deny: boolean;
  /** Return warnings to the client: `enforce` and `warn`, never `monitor` or `off`. */
  readonly showWarnings: boolean;
  /** Apply (and patch) the mutating fixes: `enforce` and `warn`. */
  readonly applyFixes: boolean;
}

/**
 * The one decision every front-end (webhook, `check`, `audit`) makes from the engine's findings:
 * 1. exemptions that match the subject and rule and have not expired (`now < expiresAt`; at the
 *    instant itself it has expired) turn errors into warnings that name them;
 * 2. the namespace's mode says what is done with what is left.
 * Pure: the clock is `now`, and facts the caller does not know (offline: the user, maybe the
 * namespace labels) are null, which makes exemptions that need them "unevaluated".
 */
export function decide(
  findings: readonly Finding[],
  subject: GuardrailSubject,
  config: GuardrailSettings,
  now: Date,
): GuardrailDecision {
  const modeResult = namespaceMode(subject.namespace, subject.namespaceLabels, config);
  const { mode } = modeResult;
  const lifted = liftExemptedErrors(findings, subject, config.guardrails.exemptions, now.getTime());
  const outcome = toOutcome(lifted.findings);
  return {
    mode,
    namespaceMode: modeResult,
    findings: lifted.findings,
    reported: reportAs(mode, subject.namespace, lifted.findings),
    applied: lifted.applied,
    expired: lifted.expired,
    unevaluated: lifted.unevaluated,
    outcome,
    deny: mode === "enforce" && outcome === "denied",
    showWarnings: mode === "enforce" || mode === "warn",
    applyFixes: mode === "enforce" || mode === "warn",
  };
}

/** The exemption note in a lifted finding's message: first, so the 256-rune cut never hides it. */
export function describeExemption(exemption: {
  readonly name: string;
  readonly reason: string;
  readonly expiresAt: number | null;
}): string {
  const until =
    exemption.expiresAt === null ? "with no expiry" : `until ${formatInstant(exemption.expiresAt)}`;
  return `exempted by ${exemption.name} (${exemption.reason}) ${until}`;
}

interface Lifted {
  readonly findings: Finding[];
  readonly applied: AppliedExemption[];
  readonly expired: AppliedExemption[];
  readonly unevaluated: UnevaluatedExemption[];
}

function liftExemptedErrors(
  findings: readonly Finding[],
  subject: GuardrailSubject,
  exemptions: readonly Exemption[],
  nowMs: number,
): Lifted {
  // Most subjects have no error, and most configurations no exemption: nothing to lift (this
  // runs on every admission).
  if (exemptions.length === 0 || !findings.some((f) => f.severity === "error")) {
    return { findings: [...findings], applied: [], expired: [], unevaluated: [] };
  }
  const errorRules = new Set(findings.filter((f) => f.severity === "error").map((f) => f.rule));
  const applied = new Map<string, { exemption: Exemption; rules: RuleId[] }>();
  const expired = new Map<string, { exemption: Exemption; rules: RuleId[] }>();
  const unevaluated: UnevaluatedExemption[] = [];
  // For each rule with errors, the first exemption (in file order) that applies, else the first
  // expired one that would have applied, which the message then names.
  const liftedBy = new Map<RuleId, Exemption>();
  const expiredFor = new Map<RuleId, Exemption>();
  for (const exemption of exemptions) {
    const rules = [...errorRules].filter(
      (rule) => !liftedBy.has(rule) && (exemption.rules === null || exemption.rules.includes(rule)),
    );
    if (rules.length === 0) continue;
    const match = matchExemption(exemption, subject);
    if (match === false) continue;
    if (match !== true) {
      unevaluated.push({ name: exemption.name, missing: match, rules });
      continue;
    }
    const isExpired = exemption.expiresAt !== null && nowMs >= exemption.expiresAt;
    const into = isExpired ? expired : applied;
    into.set(exemption.name, { exemption, rules });
    for (const rule of rules) {
      if (!isExpired) liftedBy.set(rule, exemption);
      else if (!expiredFor.has(rule)) expiredFor.set(rule, exemption);
    }
  }
  const result = findings.map((finding): Finding => {
    if (finding.severity !== "error") return finding;
    const by = liftedBy.get(finding.rule);
    if (by)
      return {
        ...finding,
        severity: "warning",
        message: `${describeExemption(by)}: ${finding.message}`,
      };
    const lapsed = expiredFor.get(finding.rule);
    if (lapsed !== undefined && lapsed.expiresAt !== null) {
      const note = `exemption ${lapsed.name} (${lapsed.reason}) expired at ${formatInstant(lapsed.expiresAt)}`;
      return { ...finding, message: `${note}: ${finding.message}` };
    }
    return finding;
  });
  const toApplied = ({
    exemption,
    rules,
  }: {
    exemption: Exemption;
    rules: RuleId[];
  }): AppliedExemption => ({
    name: exemption.name,
    reason: exemption.reason,
    expiresAt: exemption.expiresAt,
    rules,
  });
  // An expired exemption superseded by a live one for every rule it matched is not worth a word.
  const stillExpired = [...expired.values()]
    .map(({ exemption, rules }) => ({
      exemption,
      rules: rules.filter((r) => !liftedBy.has(r) && expiredFor.get(r) === exemption),
    }))
    .filter(({ rules }) => rules.length > 0);
  return {
    findings: result,
    applied: [...applied.values()].map(toApplied),
    expired: stillExpired.map(toApplied),
    unevaluated: unevaluated.filter((u) => u.rules.some((rule) => !liftedBy.has(rule))),
  };
}

/** True, false, or what is missing to tell. Each criterion given must match. */
function matchExemption(exemption: Exemption, subject: GuardrailSubject): boolean | MissingFact[] {
  const { kind, namespace, name, statefulSet, namespaceLabels, user } = subject;
  if (exemption.namespaces !== null && !matchesAnyGlob(exemption.namespaces, namespace))
    return false;
  if (
    exemption.services !== null &&
    (kind !== "Service" || !matchesAnyGlob(exemption.services, name))
  ) {
    return false;
  }
  if (
    exemption.statefulSets !== null &&
    (statefulSet === null || !matchesAnyGlob(exemption.statefulSets, statefulSet))
  ) {
    return false;
  }
  const missing: MissingFact[] = [];
  if (exemption.namespaceSelector !== null) {
    if (namespaceLabels === null) missing.push("namespaceLabels");
    else if (!matchesSelector(exemption.namespaceSelector, namespaceLabels)) return false;
  }
  if (exemption.users !== null) {
    if (user === null) missing.push("user");
    else if (!matchesAnyGlob(exemption.users, user.username)) return false;
  }
  if (exemption.groups !== null) {
    if (user === null) missing.push("groups");
    else if (!user.groups.some((group) => matchesAnyGlob(exemption.groups ?? [], group)))
      return false;
  }
  return missing.length === 0 ? true : missing;
}

function reportAs(mode: Mode, namespace: string, findings: readonly Finding[]): Finding[] {
  switch (mode) {
    case "enforce":
      return [...findings];
    case "monitor":
    case "off":
      return [];
    case "warn":
      return findings.map((finding) =>
        finding.severity === "error"
          ? {
              ...finding,
              severity: "warning",
              message: `would have been denied (namespace ${namespace} is in ${mode} mode): ${finding.message}`,
            }
          : finding,
      );
  }
}

function toOutcome(findings: readonly Finding[]): Outcome {
  if (findings.some((f) => f.severity === "error")) return "denied";
  return findings.length > 0 ? "warned" : "allowed";
}
