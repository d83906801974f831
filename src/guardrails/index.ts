/** Modes and exemptions: the one decision every front-end makes from the engine's findings. */
export {
  decide,
  describeExemption,
  type AppliedExemption,
  type GuardrailDecision,
  type GuardrailSubject,
  type MissingFact,
  type Outcome,
  type RequestUser,
  type UnevaluatedExemption,
} from "./decide.js";
export { formatInstant, parseRfc3339, type ParsedInstant } from "./instant.js";
export { matchesAnyGlob, matchesGlob, matchesSelector } from "./match.js";
export {
  isMode,
  labelsMayLower,
  modeRank,
  namespaceMode,
  usesNamespaceLabels,
  type GuardrailSettings,
  type NamespaceLabels,
  type NamespaceModeResult,
} from "./namespace-mode.js";
export * from "./types.js";
