/**
 * The CEL text of the self-contained rules (`malformed-pod-name`, `external-traffic-policy`,
 * `missing-labels`), written to mean exactly what src/policy means. Every function returns CEL
 * source for a subject (`object` or `oldObject`).
 *
 * The configuration enters only through `CelSettings`: CEL literals for the CLI, Helm expressions
 * that print the same literals for the chart, so both install the same expressions.
 *
 * Which CEL the API server runs (docs/admission-policies.md, "Which CEL"):
 * - every verdict (validation `expression`, `matchConditions`, the 1.26 policies) is standard CEL
 *   only: `has`, `size`, `matches`, `in`, `dyn`, `exists`, `+` and comparisons. `object` is `dyn`
 *   on the API server, and Kubernetes 1.26 fails `indexOf`/`lastIndexOf` at run time on a string
 *   read by index, as the selector value is (`no such overload: lastIndexOf(string, string)`;
 *   its list library declares the same names), so the target is checked by one regular
 *   expression and the labels by concatenation;
 * - the values (the StatefulSet name and the ordinal, for messages from 1.27 and label mutations
 *   from 1.32) are cut out with `find` (Kubernetes regex library) and `substring` (cel-go strings
 *   extension), and the message list joined with `join`: all three in every version from 1.26 on,
 *   and proven on 1.26's API server on a value read by index by test/e2e/cel-functions.
 * No `variables` (ValidatingAdmissionPolicy has them from 1.28) and no `cel.bind`.
 */
import { POD_NAME_LABEL } from "../policy/types.js";

/** CEL source of the configuration-dependent pieces. */
export interface CelSettings {
  /** A CEL string, e.g. `'stsguard.io'`. */
  readonly labelPrefix: string;
  /**
   * A CEL list of `[key, value]` pairs: the fixed extra labels, in configuration order. Used
   * through `dyn()`, so that an empty list still type-checks where its elements are indexed.
   */
  readonly fixedLabels: string;
  /** A CEL map of the same labels. */
  readonly fixedLabelMap: string;
  /** A CEL bool: ClusterIP with externalIPs is externally accessible (Kubernetes 1.29+). */
  readonly externalIPsAccessible: string;
}

export type Subject = "object" | "oldObject";

/** Single-quoted CEL string literal. */
export function celString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

const MAX_ORDINAL = 2147483647;

/**
 * A regular expression for the canonical decimals `0` to `max` (no sign, no leading zero), so
 * that the range check needs no number parsing: fewer digits than `max`, or as many and smaller
 * at the first digit that differs, or `max` itself.
 */
export function decimalsUpTo(max: number): string {
  if (!Number.isSafeInteger(max) || max < 0) throw new Error(`not a non-negative integer: ${max}`);
  const digits = String(max);
  if (digits.length === 1) return max === 0 ? "0" : `[0-${digits}]`;
  const alternatives = ["0", `[1-9][0-9]{0,${digits.length - 2}}`];
  for (let i = 0; i < digits.length; i += 1) {
    const low = i === 0 ? 1 : 0;
    const high = Number(digits[i]) - 1;
    if (high < low) continue;
    const rest = digits.length - i - 1;
    const range = low === high ? String(low) : `[${low}-${high}]`;
    alternatives.push(`${digits.slice(0, i)}${range}${rest > 0 ? `[0-9]{${rest}}` : ""}`);
  }
  alternatives.push(digits);
  return alternatives.join("|");
}

// The grammar of src/policy/pod-target.ts: a DNS-1123 label, a dash, a canonical decimal of at
// most 2147483647. The ordinal has no dash, so the split is at the last dash (`redis-2-0`).
const POD_NAME_PATTERN = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?-(${decimalsUpTo(MAX_ORDINAL)})$`;
const ORDINAL_PATTERN = "^(0|[1-9][0-9]*)$";

const podName = (s: Subject): string => `${s}.spec.selector[${celString(POD_NAME_LABEL)}]`;
/** The ordinal of a valid target: its trailing digits. Only for values, never for verdicts. */
const ordinal = (s: Subject): string => `${podName(s)}.find('[0-9]+$')`;
/** The StatefulSet of a valid target: what precedes `-<ordinal>`. Only for values. */
const statefulSet = (s: Subject): string =>
  `${podName(s)}.substring(0, size(${podName(s)}) - size(${ordinal(s)}) - 1)`;
const serviceType = (s: Subject): string => `(has(${s}.spec.type) ? ${s}.spec.type : 'ClusterIP')`;

/** A per-pod Service: not ExternalName, and a selector with the pod-name key. */
export function isPerPod(s: Subject): string {
  return (
    `has(${s}.spec) && has(${s}.spec.selector) && ${celString(POD_NAME_LABEL)} in ${s}.spec.selector` +
    ` && !(has(${s}.spec.type) && ${s}.spec.type == 'ExternalName')`
  );
}

/** The selector value reads `<sts>-<ordinal>`, at most 63 characters, ordinal an int32. */
export function hasValidTarget(s: Subject): string {
  return `(${podName(s)}.matches(${celString(POD_NAME_PATTERN)}) && size(${podName(s)}) <= 63)`;
}

export function isExternallyAccessible(s: Subject, settings: CelSettings): string {
  const type = serviceType(s);
  return (
    `(${type} == 'LoadBalancer' || ${type} == 'NodePort' || (${settings.externalIPsAccessible}` +
    ` && ${type} == 'ClusterIP' && has(${s}.spec.externalIPs) && size(${s}.spec.externalIPs) > 0))`
  );
}

const hasLocalPolicy = (s: Subject): string =>
  `(has(${s}.spec.externalTrafficPolicy) && ${s}.spec.externalTrafficPolicy == 'Local')`;

const label = (s: Subject, key: string): string => `${s}.metadata.labels[${key}]`;

const hasLabel = (s: Subject, pair: string): string =>
  `(has(${s}.metadata.labels) && ${pair}[0] in ${s}.metadata.labels && ${label(s, `${pair}[0]`)} == ${pair}[1])`;

/**
 * The labels `<prefix>/statefulset` and `<prefix>/ordinal` of a valid target are right, in
 * standard CEL: an ordinal label of digits has no dash, so `<statefulset>-<ordinal>` equal to the
 * target splits it at its last dash, exactly where the engine does.
 */
function hasOwnLabels(s: Subject, settings: CelSettings): string {
  const sts = `${settings.labelPrefix} + '/statefulset'`;
  const ord = `${settings.labelPrefix} + '/ordinal'`;
  return (
    `(has(${s}.metadata.labels) && ${sts} in ${s}.metadata.labels && ${ord} in ${s}.metadata.labels` +
    ` && ${label(s, ord)}.matches(${celString(ORDINAL_PATTERN)})` +
    ` && ${label(s, sts)} + '-' + ${label(s, ord)} == ${podName(s)})`
  );
}

/** A fixed extra label is absent or has another value. */
const lacksFixedLabel = (s: Subject, settings: CelSettings): string =>
  `dyn(${settings.fixedLabels}).exists(l, !${hasLabel(s, "l")})`;

/** A required label is absent or has another value: `missing-labels` finds something. */
function lacksLabels(s: Subject, settings: CelSettings): string {
  return (
    `((${hasValidTarget(s)} && !${hasOwnLabels(s, settings)})` +
    ` || ${lacksFixedLabel(s, settings)})`
  );
}

/** The required labels as `[key, value]` pairs, in the engine's order. Values: messages only. */
function requiredLabels(s: Subject, settings: CelSettings): string {
  const own =
    `[[${settings.labelPrefix} + '/statefulset', ${statefulSet(s)}], ` +
    `[${settings.labelPrefix} + '/ordinal', ${ordinal(s)}]]`;
  return `((${hasValidTarget(s)} ? ${own} : []) + dyn(${settings.fixedLabels}))`;
}

/** The required `[key, value]` pairs the subject lacks or carries with another value. */
export function lackingLabels(s: Subject, settings: CelSettings): string {
  return `${requiredLabels(s, settings)}.filter(l, !${hasLabel(s, "l")})`;
}

export const SELF_CONTAINED_RULES = [
  "malformed-pod-name",
  "external-traffic-policy",
  "missing-labels",
] as const;

export type SelfContainedRule = (typeof SELF_CONTAINED_RULES)[number];

/** True when the rule finds something wrong with a per-pod subject. */
export function violates(rule: SelfContainedRule, s: Subject, settings: CelSettings): string {
  switch (rule) {
    case "malformed-pod-name":
      return `!${hasValidTarget(s)}`;
    case "external-traffic-policy":
      return `(${isExternallyAccessible(s, settings)} && !${hasLocalPolicy(s)})`;
    case "missing-labels":
      return lacksLabels(s, settings);
  }
}

/** On UPDATE, the stored object was a per-pod Service that already broke the rule. */
export function violatedBefore(rule: SelfContainedRule, settings: CelSettings): string {
  return (
    `(request.operation == 'UPDATE' && ${isPerPod("oldObject")}` +
    ` && ${violates(rule, "oldObject", settings)})`
  );
}

// `Service <namespace>/<name>`, read as the engine reads it (src/policy/service-rules.ts).
const namespace =
  "(has(object.metadata.namespace) && object.metadata.namespace != '' ? object.metadata.namespace" +
  " : (request.namespace != '' ? request.namespace : 'default'))";
const name =
  "(has(object.metadata.name) && object.metadata.name != '' ? object.metadata.name" +
  " : (has(object.metadata.generateName) && object.metadata.generateName != ''" +
  " ? object.metadata.generateName : '<unnamed>'))";
const display = `'Service ' + ${namespace} + '/' + ${name}`;

/** The finding's message as src/policy words it, with the rule id first as the webhook prints it. */
export function message(rule: SelfContainedRule, settings: CelSettings): string {
  switch (rule) {
    case "malformed-pod-name":
      // Registry validation runs before validating admission, so the value is a valid label
      // value and JSON quoting is plain double quotes around it.
      return (
        `'malformed-pod-name: ' + ${display} + ' selects pod "' + ${podName("object")} + ` +
        `'", which is not "<statefulset>-<ordinal>" with a plain decimal ordinal, so it matches ` +
        `no StatefulSet pod; fix the ${POD_NAME_LABEL} selector'`
      );
    case "external-traffic-policy": {
      const type = serviceType("object");
      return (
        `'external-traffic-policy: ' + ${display} + ' is ' + ` +
        `(${type} == 'ClusterIP' ? 'ClusterIP with externalIPs' : ${type}) + ` +
        `' with externalTrafficPolicy ' + (has(object.spec.externalTrafficPolicy) ? ` +
        `object.spec.externalTrafficPolicy : 'unset') + '; a per-pod Service needs Local so ` +
        `only the pod\\'s node answers and the client IP is kept; set spec.externalTrafficPolicy: Local'`
      );
    }
    case "missing-labels": {
      const lacking = lackingLabels("object", settings);
      const one = `size(${lacking}) == 1`;
      return (
        `'missing-labels: ' + ${display} + ' lacks required label' + (${one} ? '' : 's') + ' ' + ` +
        `${lacking}.map(l, l[0] + '=' + l[1]).join(', ') + '; add ' + (${one} ? 'it' : 'them') + ` +
        `' to metadata.labels'`
      );
    }
  }
}

/** What the engine appends to an error that the stored object already had. */
export const PREEXISTING_SUFFIX = " (already so before this update, so only a warning)";

/** ApplyConfiguration: `externalTrafficPolicy: Local` where Kubernetes accepts it. */
export function localPolicyMutation(settings: CelSettings): string {
  return (
    `${isExternallyAccessible("object", settings)} && !${hasLocalPolicy("object")}` +
    ` ? Object{spec: Object.spec{externalTrafficPolicy: 'Local'}} : Object{}`
  );
}

/**
 * ApplyConfigurations for the required labels. A merge of `metadata.labels` creates the map when
 * the Service has none, and keeps the labels it has.
 */
export function labelMutations(settings: CelSettings): readonly string[] {
  // Spaces inside the braces: the chart's `{{ squote $prefix }}` must not follow a `{`.
  const own = `{ ${settings.labelPrefix} + '/statefulset': ${statefulSet("object")}, ${settings.labelPrefix} + '/ordinal': ${ordinal("object")} }`;
  return [
    `${hasValidTarget("object")} && !${hasOwnLabels("object", settings)} ? Object{metadata: Object.metadata{labels: ${own}}} : Object{}`,
    `${lacksFixedLabel("object", settings)} ? Object{metadata: Object.metadata{labels: ${settings.fixedLabelMap}}} : Object{}`,
  ];
}
