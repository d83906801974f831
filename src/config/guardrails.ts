/**
 * The guardrail settings of the configuration file: `mode`, `namespaces`, `labelsMayLowerIn`,
 * `optOutLabel`, `namespaceModeLabel`, `exemptions`.
 */
import { ConfigError } from "../errors.js";
import {
  MODES,
  matchesGlob,
  parseRfc3339,
  type Exemption,
  type GuardrailsConfig,
  type LabelPair,
  type LabelSelector,
  type LabelSelectorRequirement,
  type NamespaceRule,
} from "../guardrails/index.js";
import { isJsonMap, type JsonMap } from "../policy/raw-object.js";
import { RULE_IDS, type RuleId } from "../policy/types.js";
import {
  isLabelKey,
  isLabelValue,
  oneOf,
  optionalBoolean,
  optionalString,
  optionalStringList,
  rejectUnknownKeys,
} from "./fields.js";

export const GUARDRAILS_KEYS = [
  "mode",
  "namespaces",
  "labelsMayLowerIn",
  "optOutLabel",
  "namespaceModeLabel",
  "exemptions",
] as const;

const NAMESPACE_RULE_KEYS = ["names", "selector", "mode"];
const SELECTOR_KEYS = ["matchLabels", "matchExpressions"];
const LABEL_PAIR_KEYS = ["key", "value"];
const EXPRESSION_KEYS = ["key", "operator", "values"];
const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
const EXEMPTION_KEYS = [
  "name",
  "reason",
  "expires",
  "namespaces",
  "namespaceSelector",
  "services",
  "statefulSets",
  "users",
  "groups",
  "rules",
];
// Shown in warnings, log lines and as a metric label value: keep it a plain identifier.
const EXEMPTION_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Reads the guardrail keys of a parsed configuration document; errors name the file and key. */
export function parseGuardrails(doc: JsonMap, sourceName: string): GuardrailsConfig {
  const at = (field: string): string => `${sourceName}: ${field}`;
  // Unlike the lists of a rule or an exemption, an empty list is the natural default here (the
  // chart renders it): no namespace.
  const labelsMayLowerIn =
    Array.isArray(doc["labelsMayLowerIn"]) && doc["labelsMayLowerIn"].length === 0
      ? []
      : (optionalStringList(doc["labelsMayLowerIn"], at("labelsMayLowerIn")) ?? []);
  const optOutLabel = parseOptOutLabel(doc["optOutLabel"], at("optOutLabel"));
  const namespaceModeLabel = optionalBoolean(
    doc["namespaceModeLabel"],
    false,
    at("namespaceModeLabel"),
  );
  // A label that can only lower enforcement, with nowhere it may: refuse rather than ignore it,
  // so nobody believes an opt-out works that does not (or that it works everywhere).
  const needsAllowlist = (key: string, what: string): ConfigError =>
    new ConfigError(
      `${at(key)}: ${what} only in the namespaces labelsMayLowerIn lists (names or globs), ` +
        `and labelsMayLowerIn is not set: list the namespaces whose owners may lower their own ` +
        `enforcement, or remove ${key}`,
    );
  if (labelsMayLowerIn.length === 0) {
    if (optOutLabel !== null) throw needsAllowlist("optOutLabel", "the opt-out label applies");
    if (namespaceModeLabel) throw needsAllowlist("namespaceModeLabel", "the mode label applies");
  }
  return {
    mode: oneOf(doc["mode"], MODES, "enforce", at("mode")),
    namespaces: list(doc["namespaces"], at("namespaces")).map((entry, index) =>
      parseNamespaceRule(entry, at(`namespaces[${index}]`)),
    ),
    labelsMayLowerIn,
    optOutLabel,
    namespaceModeLabel,
    exemptions: parseExemptions(doc["exemptions"], at("exemptions")),
  };
}

function parseOptOutLabel(value: unknown, where: string): LabelPair | null {
  if (value === undefined || value === null) return null;
  if (!isJsonMap(value)) {
    throw new ConfigError(
      `${where}: must be a mapping {key, value}, e.g. {key: stsguard.io/admission, value: disabled}`,
    );
  }
  rejectUnknownKeys(value, LABEL_PAIR_KEYS, where);
  const key = optionalString(value["key"], `${where}.key`);
  if (key === undefined || !isLabelKey(key)) {
    throw new ConfigError(`${where}.key: ${JSON.stringify(key)} is not a valid label key`);
  }
  const label = value["value"];
  if (typeof label !== "string" || label === "" || !isLabelValue(label)) {
    throw new ConfigError(
      `${where}.value: ${JSON.stringify(label)} is not a non-empty label value (quote numbers and booleans)`,
    );
  }
  return { key, value: label };
}

function parseNamespaceRule(entry: unknown, where: string): NamespaceRule {
  if (!isJsonMap(entry))
    throw new ConfigError(`${where}: must be a mapping with names or selector, and mode`);
  rejectUnknownKeys(entry, NAMESPACE_RULE_KEYS, where);
  const names = optionalStringList(entry["names"], `${where}.names`);
  const selector =
    entry["selector"] === undefined || entry["selector"] === null
      ? null
      : parseSelector(entry["selector"], `${where}.selector`);
  if (names === null && selector === null) {
    throw new ConfigError(`${where}: give names, selector or both`);
  }
  if (entry["mode"] === undefined || entry["mode"] === null) {
    throw new ConfigError(`${where}.mode: required (one of ${MODES.join(", ")})`);
  }
  return { names, selector, mode: oneOf(entry["mode"], MODES, "enforce", `${where}.mode`) };
}

export function parseSelector(value: unknown, where: string): LabelSelector {
  if (!isJsonMap(value)) throw new ConfigError(`${where}: must be a label selector mapping`);
  rejectUnknownKeys(value, SELECTOR_KEYS, where);
  const matchLabels: Record<string, string> = {};
  const labels = value["matchLabels"];
  if (labels !== undefined && labels !== null) {
    if (!isJsonMap(labels)) throw new ConfigError(`${where}.matchLabels: must be a mapping`);
    for (const [key, label] of Object.entries(labels)) {
      const field = `${where}.matchLabels.${key}`;
      if (!isLabelKey(key)) throw new ConfigError(`${field}: not a valid label key`);
      if (typeof label !== "string" || !isLabelValue(label)) {
        throw new ConfigError(
          `${field}: ${JSON.stringify(label)} is not a valid label value (quote numbers and booleans)`,
        );
      }
      matchLabels[key] = label;
    }
  }
  const matchExpressions = list(value["matchExpressions"], `${where}.matchExpressions`).map(
    (expression, index) => parseExpression(expression, `${where}.matchExpressions[${index}]`),
  );
  return { matchLabels, matchExpressions };
}

function parseExpression(value: unknown, where: string): LabelSelectorRequirement {
  if (!isJsonMap(value)) throw new ConfigError(`${where}: must be a mapping with key and operator`);
  rejectUnknownKeys(value, EXPRESSION_KEYS, where);
  const key = optionalString(value["key"], `${where}.key`);
  if (key === undefined || !isLabelKey(key)) {
    throw new ConfigError(`${where}.key: ${JSON.stringify(key)} is not a valid label key`);
  }
  if (value["operator"] === undefined) {
    throw new ConfigError(`${where}.operator: required (one of ${OPERATORS.join(", ")})`);
  }
  const operator = oneOf(value["operator"], OPERATORS, "In", `${where}.operator`);
  const values = optionalStringList(value["values"], `${where}.values`) ?? [];
  const needsValues = operator === "In" || operator === "NotIn";
  if (needsValues && values.length === 0) {
    throw new ConfigError(`${where}.values: required for operator ${operator}`);
  }
  if (!needsValues && values.length > 0) {
    throw new ConfigError(`${where}.values: must be left out for operator ${operator}`);
  }
  return { key, operator, values };
}

function parseExemptions(value: unknown, where: string): Exemption[] {
  const seen = new Set<string>();
  return list(value, where).map((entry, index) => {
    const exemption = parseExemption(entry, `${where}[${index}]`);
    if (seen.has(exemption.name)) {
      throw new ConfigError(
        `${where}[${index}].name: "${exemption.name}" is already used by an earlier exemption`,
      );
    }
    seen.add(exemption.name);
    return exemption;
  });
}

function parseExemption(entry: unknown, where: string): Exemption {
  if (!isJsonMap(entry)) throw new ConfigError(`${where}: must be a mapping with name and reason`);
  rejectUnknownKeys(entry, EXEMPTION_KEYS, where);
  const name = optionalString(entry["name"], `${where}.name`);
  if (name === undefined) throw new ConfigError(`${where}.name: required`);
  if (!EXEMPTION_NAME.test(name)) {
    throw new ConfigError(
      `${where}.name: "${name}" must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
    );
  }
  const reason = optionalString(entry["reason"], `${where}.reason`)?.trim();
  if (!reason) {
    throw new ConfigError(`${where}.reason: required (a ticket or who approved it)`);
  }
  const { expires, expiresAt } = parseExpires(entry["expires"], `${where}.expires`);
  const exemption: Exemption = {
    name,
    reason,
    expires,
    expiresAt,
    namespaces: optionalStringList(entry["namespaces"], `${where}.namespaces`),
    namespaceSelector:
      entry["namespaceSelector"] === undefined || entry["namespaceSelector"] === null
        ? null
        : parseSelector(entry["namespaceSelector"], `${where}.namespaceSelector`),
    services: optionalStringList(entry["services"], `${where}.services`),
    statefulSets: optionalStringList(entry["statefulSets"], `${where}.statefulSets`),
    users: optionalStringList(entry["users"], `${where}.users`),
    groups: optionalStringList(entry["groups"], `${where}.groups`),
    rules: parseRules(entry["rules"], `${where}.rules`),
  };
  requireScope(exemption, where);
  return exemption;
}

/**
 * Service and StatefulSet names, and (for whoever may label their namespace) namespace labels,
 * are chosen by the people an exemption lifts rules for: `statefulSets: [kafka]` alone would
 * exempt a `kafka-9` Service in any namespace. So every exemption names where (namespaces) or
 * who (users, groups), and a list that matches everyone does not count as a scope.
 */
function requireScope(exemption: Exemption, where: string): void {
  const scoped = (list: readonly string[] | null, isCatchAll: (entry: string) => boolean) =>
    list !== null && !list.some(isCatchAll);
  if (
    scoped(exemption.namespaces, isCatchAllGlob) ||
    scoped(exemption.users, isCatchAllGlob) ||
    scoped(exemption.groups, isCatchAllGroup)
  ) {
    return;
  }
  throw new ConfigError(
    `${where} (${exemption.name}): scope it with namespaces, or with users or groups: ` +
      `services, statefulSets and namespaceSelector match names and labels that whoever creates ` +
      `the object can choose, and "*" (or the group system:authenticated) matches everyone`,
  );
}

/** `*`, `?*`, ...: a glob of wildcards only, which matches every name (or all but the shortest). */
function isCatchAllGlob(pattern: string): boolean {
  return /^[*?]*\*[*?]*$/.test(pattern);
}

// Every authenticated request carries system:authenticated, every other one system:unauthenticated.
const EVERYONE_GROUPS = ["system:authenticated", "system:unauthenticated"];

function isCatchAllGroup(pattern: string): boolean {
  return isCatchAllGlob(pattern) || EVERYONE_GROUPS.some((group) => matchesGlob(pattern, group));
}

function parseExpires(
  value: unknown,
  where: string,
): { expires: string | null; expiresAt: number | null } {
  if (value === undefined || value === null) return { expires: null, expiresAt: null };
  if (value instanceof Date || typeof value !== "string") {
    throw new ConfigError(
      `${where}: must be a quoted RFC 3339 date-time, e.g. "2026-12-31T23:59:59Z"`,
    );
  }
  const parsed = parseRfc3339(value);
  if (!parsed.ok) throw new ConfigError(`${where}: ${parsed.problem}`);
  return { expires: value, expiresAt: parsed.epochMs };
}

function parseRules(value: unknown, where: string): RuleId[] | null {
  const rules = optionalStringList(value, where);
  if (rules === null) return null;
  return rules.map((rule, index) => {
    if (!(RULE_IDS as readonly string[]).includes(rule)) {
      throw new ConfigError(
        `${where}[${index}]: unknown rule id "${rule}" (known: ${RULE_IDS.join(", ")})`,
      );
    }
    return rule as RuleId;
  });
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list`);
  return value;
}
