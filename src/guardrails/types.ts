import type { RuleId } from "../policy/types.js";

/**
 * Guardrails: how a namespace's mode and the configured exemptions turn the engine's findings into
 * what a front-end does. Plain data, built and frozen by src/config; no I/O anywhere in this folder.
 */

/** From strictest to most lenient: `enforce` denies, `warn` warns, `monitor` only counts, `off` skips. */
export const MODES = ["enforce", "warn", "monitor", "off"] as const;
export type Mode = (typeof MODES)[number];

/** A Kubernetes label selector (metav1.LabelSelector), as written in the configuration. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  readonly values: readonly string[];
}

/** One entry of `namespaces:`: names/globs or a label selector (or both: each given must match). */
export interface NamespaceRule {
  /** Names or globs (`*` any run of characters, `?` one); null when not given. */
  readonly names: readonly string[] | null;
  readonly selector: LabelSelector | null;
  readonly mode: Mode;
}

/** One entry of `exemptions:`. A criterion left out (null) matches everything. */
export interface Exemption {
  readonly name: string;
  readonly reason: string;
  /** The instant it stops applying, in epoch milliseconds; null: never expires. */
  readonly expiresAt: number | null;
  /** `expires` as written in the file, for messages that echo the configuration. */
  readonly expires: string | null;
  readonly namespaces: readonly string[] | null;
  readonly namespaceSelector: LabelSelector | null;
  readonly services: readonly string[] | null;
  readonly statefulSets: readonly string[] | null;
  readonly users: readonly string[] | null;
  readonly groups: readonly string[] | null;
  /** Rule ids it lifts; null: every rule. */
  readonly rules: readonly RuleId[] | null;
}

/** A label key and the value that opts a namespace out (`optOutLabel`). */
export interface LabelPair {
  readonly key: string;
  readonly value: string;
}

export interface GuardrailsConfig {
  /** The mode of a namespace no rule matches. */
  readonly mode: Mode;
  readonly namespaces: readonly NamespaceRule[];
  /**
   * Names or globs of the namespaces whose own labels may lower their mode (the opt-out label,
   * the mode label, a `namespaces` rule that matches by label). Empty: no label lowers anything.
   */
  readonly labelsMayLowerIn: readonly string[];
  /** A label that turns the mode `off` in namespaces of `labelsMayLowerIn`; null: none. */
  readonly optOutLabel: LabelPair | null;
  /** Whether a label `<labelPrefix>/mode` may lower (never raise) the mode in `labelsMayLowerIn`. */
  readonly namespaceModeLabel: boolean;
  readonly exemptions: readonly Exemption[];
}

export const DEFAULT_GUARDRAILS: GuardrailsConfig = Object.freeze({
  mode: "enforce",
  namespaces: Object.freeze([]),
  labelsMayLowerIn: Object.freeze([]),
  optOutLabel: null,
  namespaceModeLabel: false,
  exemptions: Object.freeze([]),
});
