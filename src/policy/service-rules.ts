import { isExternallyAccessible, readPodNameSelector } from "./objects.js";
import {
  describeOrdinalRange,
  describeRangeFix,
  hasOrdinal,
  possibleOrdinals,
} from "./ordinal-range.js";
import { describeValue, truncateText } from "./echo.js";
import { toPodName } from "./pod-target.js";
import { hasOwn, isJsonMap, readMap, readString } from "./raw-object.js";
import {
  POD_NAME_LABEL,
  type KubeVersion,
  type PodTarget,
  type PolicyConfig,
  type RuleId,
  type StatefulSetLookup,
} from "./types.js";

/** A rule violation before configuration decides its severity. */
export interface RawFinding {
  readonly rule: RuleId;
  readonly message: string;
  readonly fixable: boolean;
  readonly path: readonly (string | number)[];
}

/** Everything the Service rules read, worked out once per evaluation. */
export interface ServiceFacts {
  readonly service: unknown;
  /** `Service <namespace>/<name>` for messages. */
  readonly display: string;
  readonly namespace: string;
  readonly selectorValue: unknown;
  readonly target: PodTarget | null;
  readonly lookup: StatefulSetLookup;
}

// Pods carry labels the controller adds, which a template cannot show.
const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";
const REVISION_HASH_LABEL = "controller-revision-hash";

const selectorPath = (key: string): string[] => ["spec", "selector", key];

export function checkPodName(facts: ServiceFacts): RawFinding[] {
  if (facts.target) return [];
  return [
    {
      rule: "malformed-pod-name",
      message:
        `${facts.display} selects pod ${describeValue(facts.selectorValue)}, which is not ` +
        `"<statefulset>-<ordinal>" with a plain decimal ordinal, so it matches no StatefulSet pod; ` +
        `fix the ${POD_NAME_LABEL} selector`,
      fixable: false,
      path: selectorPath(POD_NAME_LABEL),
    },
  ];
}

export function checkStatefulSet(facts: ServiceFacts, config: PolicyConfig): RawFinding[] {
  const { target, lookup } = facts;
  if (!target || lookup.status === "unavailable") return [];
  if (lookup.status === "not-found") {
    return [
      {
        rule: "statefulset-not-found",
        message:
          `${facts.display} selects pod ${toPodName(target)}, but StatefulSet ${target.statefulSet} does not ` +
          `exist in namespace ${facts.namespace}; create it or fix the selector`,
        fixable: false,
        path: selectorPath(POD_NAME_LABEL),
      },
    ];
  }
  const sts = lookup.statefulSet;
  const findings: RawFinding[] = [];
  if (!hasOrdinal(sts, target.ordinal)) {
    const choice = possibleOrdinals(sts).autoscaler
      ? "an ordinal in that range"
      : "an existing ordinal";
    findings.push({
      rule: "ordinal-out-of-range",
      message:
        `${facts.display} selects pod ${toPodName(target)}, but StatefulSet ${sts.name} has ` +
        `${describeOrdinalRange(sts)}; ${describeRangeFix(sts)} or select ${choice}`,
      fixable: false,
      path: selectorPath(POD_NAME_LABEL),
    });
  }
  // The selector is known to be a map: it holds the pod-name key.
  const selector = readMap(readMap(facts.service, "spec"), "selector") ?? {};
  for (const [key, value] of Object.entries(selector)) {
    if (typeof value !== "string") continue;
    const expected = expectedPodLabel(key, target, sts.podLabels, config.kubeVersion);
    if (expected === undefined || expected === value) continue;
    findings.push({
      rule: "selector-mismatch",
      message:
        `${facts.display} selects ${truncateText(key)}=${truncateText(value)}, but pods of ` +
        `StatefulSet ${sts.name} ` +
        `${expected === null ? "do not carry that label" : `carry ${truncateText(key)}=${truncateText(expected)}`}, so it ` +
        `selects nothing; remove or correct that selector entry`,
      fixable: false,
      path: selectorPath(key),
    });
  }
  return findings;
}

/** The value pods have for a selector key; undefined when it cannot be known; null when absent. */
function expectedPodLabel(
  key: string,
  target: PodTarget,
  podLabels: Readonly<Record<string, string>>,
  kubeVersion: KubeVersion,
): string | null | undefined {
  if (key === POD_NAME_LABEL || key === REVISION_HASH_LABEL) return undefined;
  // The controller adds the pod-index label from 1.28 (gate PodIndexLabel, beta and on).
  if (key === POD_INDEX_LABEL) return hasPodIndexLabel(kubeVersion) ? String(target.ordinal) : null;
  // hasOwn: a selector key such as `constructor` must not read Object.prototype.
  return hasOwn(podLabels, key) ? (podLabels[key] ?? null) : null;
}

function hasPodIndexLabel(kubeVersion: KubeVersion): boolean {
  return kubeVersion.major > 1 || (kubeVersion.major === 1 && kubeVersion.minor >= 28);
}

export function checkTrafficPolicy(facts: ServiceFacts, config: PolicyConfig): RawFinding[] {
  if (!isExternallyAccessible(facts.service, config.kubeVersion)) return [];
  const spec = readMap(facts.service, "spec");
  const policy = readString(spec, "externalTrafficPolicy");
  if (policy === "Local") return [];
  const type = readString(spec, "type") ?? "ClusterIP";
  const what = type === "ClusterIP" ? "ClusterIP with externalIPs" : type;
  return [
    {
      rule: "external-traffic-policy",
      message:
        `${facts.display} is ${what} with externalTrafficPolicy ${policy ?? "unset"}; a per-pod ` +
        `Service needs Local so only the pod's node answers and the client IP is kept; ` +
        `set spec.externalTrafficPolicy: Local`,
      fixable: true,
      path: spec && "externalTrafficPolicy" in spec ? ["spec", "externalTrafficPolicy"] : ["spec"],
    },
  ];
}

/** The labels a per-pod Service must carry, with their values. */
export function requiredLabels(
  target: PodTarget | null,
  lookup: StatefulSetLookup,
  config: PolicyConfig,
): Record<string, string> {
  const labels: Record<string, string> = {};
  if (target) {
    const keys = targetLabelKeys(config.labelPrefix);
    labels[keys.statefulSet] = target.statefulSet;
    labels[keys.ordinal] = String(target.ordinal);
  }
  for (const extra of config.extraLabels) {
    if ("value" in extra) {
      labels[extra.key] = extra.value;
    } else if (lookup.status === "found") {
      // Copied labels are only known when the StatefulSet is; a missing source label is not required.
      const source = lookup.statefulSet.labels;
      const copied = hasOwn(source, extra.fromStatefulSetLabel)
        ? source[extra.fromStatefulSetLabel]
        : undefined;
      if (copied !== undefined) labels[extra.key] = copied;
    }
  }
  return labels;
}

// The keys are built once per prefix, not per request: a fresh string as a property key costs a
// hash on every lookup. One prefix is in use at a time, so one entry is kept.
let labelKeys = { prefix: "", statefulSet: "/statefulset", ordinal: "/ordinal" };

function targetLabelKeys(prefix: string): { statefulSet: string; ordinal: string } {
  if (labelKeys.prefix !== prefix) {
    labelKeys = { prefix, statefulSet: `${prefix}/statefulset`, ordinal: `${prefix}/ordinal` };
  }
  return labelKeys;
}

/** The required labels that `service` lacks or carries with another value, as [key, value]. */
export function missingLabels(
  service: unknown,
  required: Readonly<Record<string, string>>,
): [string, string][] {
  // A label that is not a string differs from any required value, as a missing one does.
  const present = readMap(readMap(service, "metadata"), "labels") ?? {};
  const missing: [string, string][] = [];
  for (const key of Object.keys(required)) {
    const value = required[key] ?? "";
    if (!hasOwn(present, key) || present[key] !== value) missing.push([key, value]);
  }
  return missing;
}

export function checkLabels(facts: ServiceFacts, config: PolicyConfig): RawFinding[] {
  const wrong = missingLabels(facts.service, requiredLabels(facts.target, facts.lookup, config));
  if (wrong.length === 0) return [];
  const metadata = readMap(facts.service, "metadata");
  const listed = wrong.map(([key, value]) => `${key}=${value}`).join(", ");
  return [
    {
      rule: "missing-labels",
      message: `${facts.display} lacks required label${wrong.length === 1 ? "" : "s"} ${listed}; add ${wrong.length === 1 ? "it" : "them"} to metadata.labels`,
      fixable: true,
      path: isJsonMap(metadata?.["labels"]) ? ["metadata", "labels"] : ["metadata"],
    },
  ];
}

/** Reads the facts of a per-pod Service; null when the object is not one. */
export function readServiceFacts(
  service: unknown,
  lookup: StatefulSetLookup,
  parse: (value: unknown) => PodTarget | null,
  fallbackNamespace: string | undefined,
): ServiceFacts | null {
  const selector = readPodNameSelector(service);
  if (!selector) return null;
  const metadata = readMap(service, "metadata");
  const namespace = readString(metadata, "namespace") || fallbackNamespace || "default";
  const name = readString(metadata, "name") || readString(metadata, "generateName") || "<unnamed>";
  return {
    service,
    display: `Service ${truncateText(namespace)}/${truncateText(name)}`,
    namespace,
    selectorValue: selector.value,
    target: parse(selector.value),
    lookup,
  };
}
