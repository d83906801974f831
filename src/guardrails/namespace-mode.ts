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
  /** Where the mode came from: `mode` (the default), `namespaces[<i>]`, or the label's key. */
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
 * The mode of a namespace: the first `namespaces` rule that matches (names/globs and label
 * selector; each one given must match), else the default `mode`. With `namespaceModeLabel`, a
 * namespace label `<prefix>/mode` may then lower the mode, never raise it.
 */
export function namespaceMode(
  namespace: string,
  labels: NamespaceLabels,
  config: GuardrailSettings,
): NamespaceModeResult {
  const { guardrails } = config;
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
  if (guardrails.namespaceModeLabel && labels !== null) {
    const key = `${config.policy.labelPrefix}/mode`;
    const labelled = labels[key];
    if (isMode(labelled) && modeRank(labelled) > modeRank(mode)) {
      mode = labelled;
      source = `label ${key}`;
    }
  }
  return { mode, source, unevaluatedRules };
}
