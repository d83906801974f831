import { matchesAnyGlob, matchesSelector } from "./match.js";
import { MODES, type GuardrailsConfig, type Mode } from "./types.js";

/** What `namespaceMode` and `decide` read of the configuration (a StsguardConfig fits). */
export interface GuardrailSettings {
  readonly guardrails: GuardrailsConfig;
  readonly policy: { readonly labelPrefix: string };
}

/** Namespace labels; null when they are not known (offline, no Namespace object in the manifests). */
export type NamespaceLabels = Readonly<Record<string, string>> | null;

export interface NamespaceModeResult {
  readonly mode: Mode;
  /**
   * Where the mode came from: `mode` (the default), `namespaces[<i>]`, `label <key>`, or one of
   * those followed by why a more lenient answer was not taken.
   */
  readonly source: string;
  /**
   * `namespaces[<i>]` rules that select by label and could not be evaluated because the labels
   * are unknown. Each might have matched, so the mode is the strictest of what they and the
   * first rule that does match would give: unknown labels never make a namespace more lenient.
   */
  readonly unevaluatedRules: readonly string[];
}

/** Lower rank is stricter. */
export function modeRank(mode: Mode): number {
  return MODES.indexOf(mode);
}

export function isMode(value: unknown): value is Mode {
  return typeof value === "string" && (MODES as readonly string[]).includes(value);
}

/**
 * Whether the namespace's own labels may lower its enforcement: it is listed in
 * `labelsMayLowerIn`. Labels are set by whoever may patch the Namespace, often the team the
 * guardrail is for, so only namespaces the platform team names take them as a way down.
 */
export function labelsMayLower(namespace: string, guardrails: GuardrailsConfig): boolean {
  return matchesAnyGlob(guardrails.labelsMayLowerIn, namespace);
}

/** Whether any setting reads a Namespace's labels (so a front-end must look them up). */
export function usesNamespaceLabels(guardrails: GuardrailsConfig): boolean {
  return (
    guardrails.namespaceModeLabel ||
    guardrails.optOutLabel !== null ||
    guardrails.namespaces.some((rule) => rule.selector !== null) ||
    guardrails.exemptions.some((exemption) => exemption.namespaceSelector !== null)
  );
}

/**
 * The mode of a namespace:
 * 1. the first `namespaces` rule that matches (names/globs and label selector; each one given
 *    must match), else the default `mode`;
 * 2. in namespaces listed in `labelsMayLowerIn` only: the opt-out label (`optOutLabel`) turns
 *    the mode `off`, and with `namespaceModeLabel` a label `<prefix>/mode` may lower it (never
 *    raise it);
 * 3. anywhere else labels may raise the mode but never lower it: a rule that matched by label
 *    and is more lenient than what the namespace's name alone gives (the first rule without a
 *    selector, else `mode`) is not taken.
 */
export function namespaceMode(
  namespace: string,
  labels: NamespaceLabels,
  config: GuardrailSettings,
): NamespaceModeResult {
  const { guardrails } = config;
  const matched = firstMatchingRule(namespace, labels, guardrails);
  if (!labelsMayLower(namespace, guardrails)) {
    const byName = firstNameRule(namespace, guardrails);
    if (modeRank(matched.mode) > modeRank(byName.mode)) {
      return {
        ...matched,
        mode: byName.mode,
        source: `${byName.source} (${matched.source} not taken: labels may not lower the mode of a namespace outside labelsMayLowerIn)`,
      };
    }
    return matched;
  }
  if (labels === null) return matched;
  const optOut = guardrails.optOutLabel;
  if (optOut !== null && labels[optOut.key] === optOut.value) {
    return { ...matched, mode: "off", source: `label ${optOut.key}=${optOut.value}` };
  }
  if (guardrails.namespaceModeLabel) {
    const key = `${config.policy.labelPrefix}/mode`;
    const labelled = labels[key];
    if (isMode(labelled) && modeRank(labelled) > modeRank(matched.mode)) {
      return { ...matched, mode: labelled, source: `label ${key}` };
    }
  }
  return matched;
}

/** Step 1 of `namespaceMode`, with the strictest possible answer where labels are unknown. */
function firstMatchingRule(
  namespace: string,
  labels: NamespaceLabels,
  guardrails: GuardrailsConfig,
): NamespaceModeResult {
  const unevaluatedRules: string[] = [];
  let mode: Mode = guardrails.mode;
  let source = "mode";
  // Rules that might have matched, had the labels been known.
  const possible: { mode: Mode; source: string }[] = [];
  for (const [index, rule] of guardrails.namespaces.entries()) {
    if (rule.names !== null && !matchesAnyGlob(rule.names, namespace)) continue;
    if (rule.selector !== null) {
      if (labels === null) {
        unevaluatedRules.push(`namespaces[${index}]`);
        possible.push({ mode: rule.mode, source: `namespaces[${index}]` });
        continue;
      }
      if (!matchesSelector(rule.selector, labels)) continue;
    }
    mode = rule.mode;
    source = `namespaces[${index}]`;
    break;
  }
  for (const candidate of possible) {
    if (modeRank(candidate.mode) < modeRank(mode)) {
      mode = candidate.mode;
      source = `${candidate.source} (labels unknown: the strictest rule that might match)`;
    }
  }
  return { mode, source, unevaluatedRules };
}

/** What the namespace's name alone gives: the first rule without a selector, else `mode`. */
function firstNameRule(
  namespace: string,
  guardrails: GuardrailsConfig,
): { mode: Mode; source: string } {
  for (const [index, rule] of guardrails.namespaces.entries()) {
    if (rule.selector !== null || rule.names === null) continue;
    if (matchesAnyGlob(rule.names, namespace))
      return { mode: rule.mode, source: `namespaces[${index}]` };
  }
  return { mode: guardrails.mode, source: "mode" };
}
