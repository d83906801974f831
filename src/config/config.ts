import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.js";
import { isJsonMap } from "../policy/raw-object.js";
import {
  RULE_IDS,
  type ExtraLabel,
  type KubeVersion,
  type PolicyConfig,
  type RuleId,
  type Severity,
} from "../policy/types.js";
import { DEFAULT_GUARDRAILS, type GuardrailsConfig } from "../guardrails/types.js";
import {
  LABEL_PREFIX,
  isLabelKey,
  isLabelValue,
  oneOf,
  optionalMap,
  optionalString,
  rejectUnknownKeys,
} from "./fields.js";
import { GUARDRAILS_KEYS, parseGuardrails } from "./guardrails.js";
import {
  DEFAULT_CONTROLLER_LIMITS,
  parseControllerLimits,
  type ControllerLimits,
} from "./controller.js";

/** The configuration file, shared by the webhook (`serve --config`) and the CLI (`check --config`). */
export interface StsguardConfig {
  readonly policy: PolicyConfig;
  /** What the webhook does when a StatefulSet cannot be read: deny (default) or allow with a warning. */
  readonly onLookupFailure: "deny" | "allow";
  /** Set in the file for offline use; null means ask the API server, or assume the newest. */
  readonly kubeVersion: KubeVersion | null;
  /** Modes per namespace and exemptions (`mode`, `namespaces`, `namespaceModeLabel`, `exemptions`). */
  readonly guardrails: GuardrailsConfig;
  /** What the per-pod Service controller may do (`controller:`). */
  readonly controller: ControllerLimits;
}

/** The newest Kubernetes minor whose behaviour stsguard knows; assumed offline unless told otherwise. */
export const DEFAULT_KUBE_VERSION: KubeVersion = Object.freeze({ major: 1, minor: 36 });

export const DEFAULT_SEVERITIES: Readonly<Record<RuleId, Severity>> = Object.freeze({
  "malformed-pod-name": "error",
  // A warning on purpose: Helm, Argo CD and kustomize create Services before StatefulSets.
  "statefulset-not-found": "warning",
  "ordinal-out-of-range": "error",
  "external-traffic-policy": "error",
  "missing-labels": "error",
  "selector-mismatch": "error",
  "orphaned-service": "warning",
  "removed-api-version": "error",
  "governing-service": "warning",
});

export const defaultConfig: StsguardConfig = deepFreeze({
  policy: {
    severities: DEFAULT_SEVERITIES,
    labelPrefix: "stsguard.io",
    extraLabels: [],
    kubeVersion: DEFAULT_KUBE_VERSION,
    preexistingViolations: "warn",
  },
  onLookupFailure: "deny",
  kubeVersion: null,
  guardrails: DEFAULT_GUARDRAILS,
  controller: DEFAULT_CONTROLLER_LIMITS,
});

const TOP_LEVEL_KEYS = [
  "rules",
  "labels",
  "preexistingViolations",
  "onLookupFailure",
  "kubeVersion",
  ...GUARDRAILS_KEYS,
  "controller",
];
const LABELS_KEYS = ["prefix", "extra"];
const EXTRA_LABEL_KEYS = ["key", "value", "fromStatefulSetLabel"];
const SEVERITIES: readonly string[] = ["error", "warning", "off"];

/** Parses `1.29`, `v1.29.3`, `1.29+` (EKS/GKE minors) into a version; throws ConfigError otherwise. */
export function parseKubeVersion(text: string, where = "kubeVersion"): KubeVersion {
  const match = /^v?(\d+)\.(\d+)\+?(?:\.\d+)?(?:[-+].*)?$/.exec(text.trim());
  if (!match) throw new ConfigError(`${where}: "${text}" is not a Kubernetes version like 1.29`);
  return Object.freeze({ major: Number(match[1]), minor: Number(match[2]) });
}

/** The config with the Kubernetes version the policy should assume. */
export function withKubeVersion(config: StsguardConfig, kubeVersion: KubeVersion): StsguardConfig {
  return deepFreeze({ ...config, policy: { ...config.policy, kubeVersion } });
}

export async function loadConfigFile(path: string): Promise<StsguardConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error: unknown) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseConfig(text, path);
}

/** Parses and validates a config document; errors name the file and the field at fault. */
export function parseConfig(text: string, sourceName: string): StsguardConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error: unknown) {
    throw new ConfigError(`${sourceName}: not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (doc === null || doc === undefined) return defaultConfig;
  if (!isJsonMap(doc)) throw new ConfigError(`${sourceName}: the configuration must be a mapping`);
  const at = (field: string): string => `${sourceName}: ${field}`;
  rejectUnknownKeys(doc, TOP_LEVEL_KEYS, sourceName);
  const labels = optionalMap(doc["labels"], at("labels"));
  rejectUnknownKeys(labels, LABELS_KEYS, at("labels"));
  const labelPrefix = optionalString(labels["prefix"], at("labels.prefix")) ?? "stsguard.io";
  if (!LABEL_PREFIX.test(labelPrefix) || labelPrefix.length > 253) {
    throw new ConfigError(`${at("labels.prefix")}: "${labelPrefix}" is not a DNS subdomain`);
  }
  const kubeVersion = parseOptionalKubeVersion(doc["kubeVersion"], at("kubeVersion"));
  return deepFreeze({
    policy: {
      severities: parseSeverities(doc["rules"], at("rules")),
      labelPrefix,
      extraLabels: parseExtraLabels(labels["extra"], at("labels.extra"), labelPrefix),
      kubeVersion: kubeVersion ?? DEFAULT_KUBE_VERSION,
      preexistingViolations: oneOf(
        doc["preexistingViolations"],
        ["warn", "enforce"] as const,
        "warn",
        at("preexistingViolations"),
      ),
    },
    onLookupFailure: oneOf(
      doc["onLookupFailure"],
      ["deny", "allow"] as const,
      "deny",
      at("onLookupFailure"),
    ),
    kubeVersion,
    guardrails: parseGuardrails(doc, sourceName),
    controller: parseControllerLimits(doc["controller"], at("controller")),
  });
}

function parseOptionalKubeVersion(value: unknown, where: string): KubeVersion | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "number") {
    // YAML reads an unquoted 1.30 as the number 1.3: refuse rather than guess.
    throw new ConfigError(
      `${where}: write the version quoted, e.g. "1.30" (YAML reads 1.30 as 1.3)`,
    );
  }
  if (typeof value !== "string") throw new ConfigError(`${where}: must be a string like "1.30"`);
  return parseKubeVersion(value, where);
}

function parseSeverities(value: unknown, where: string): Record<RuleId, Severity> {
  const severities: Record<RuleId, Severity> = { ...DEFAULT_SEVERITIES };
  for (const [rule, severity] of Object.entries(optionalMap(value, where))) {
    if (!isRuleId(rule)) {
      throw new ConfigError(`${where}.${rule}: unknown rule id (known: ${RULE_IDS.join(", ")})`);
    }
    if (typeof severity !== "string" || !SEVERITIES.includes(severity)) {
      throw new ConfigError(
        `${where}.${rule}: severity must be error, warning or off, not ${JSON.stringify(severity)}`,
      );
    }
    severities[rule] = severity as Severity;
  }
  return severities;
}

function parseExtraLabels(value: unknown, where: string, labelPrefix: string): ExtraLabel[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list`);
  // The engine owns these two; an extra label with the same key would fight over the value.
  const seen = new Set([`${labelPrefix}/statefulset`, `${labelPrefix}/ordinal`]);
  return value.map((entry: unknown, index): ExtraLabel => {
    const field = `${where}[${index}]`;
    const label = parseExtraLabel(entry, field);
    if (seen.has(label.key)) {
      throw new ConfigError(
        `${field}.key: label ${label.key} is already required (by stsguard or an earlier entry)`,
      );
    }
    seen.add(label.key);
    return label;
  });
}

function parseExtraLabel(entry: unknown, field: string): ExtraLabel {
  if (!isJsonMap(entry)) throw new ConfigError(`${field}: must be a mapping with key and value`);
  rejectUnknownKeys(entry, EXTRA_LABEL_KEYS, field);
  const key = optionalString(entry["key"], `${field}.key`);
  if (!key || !isLabelKey(key)) {
    throw new ConfigError(`${field}.key: ${JSON.stringify(key)} is not a valid label key`);
  }
  const fixed = optionalString(entry["value"], `${field}.value`);
  const from = optionalString(entry["fromStatefulSetLabel"], `${field}.fromStatefulSetLabel`);
  if ((fixed === undefined) === (from === undefined)) {
    throw new ConfigError(`${field}: give exactly one of value or fromStatefulSetLabel`);
  }
  if (fixed !== undefined) {
    if (!isLabelValue(fixed)) {
      throw new ConfigError(`${field}.value: "${fixed}" is not a valid label value`);
    }
    return { key, value: fixed };
  }
  if (from === undefined || !isLabelKey(from)) {
    throw new ConfigError(
      `${field}.fromStatefulSetLabel: ${JSON.stringify(from)} is not a valid label key`,
    );
  }
  return { key, fromStatefulSetLabel: from };
}

function isRuleId(value: string): value is RuleId {
  return (RULE_IDS as readonly string[]).includes(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
