import { isStatefulSet, STATEFULSET_API_VERSION } from "./objects.js";
import { isJsonMap, readMap, readString, readStringMap } from "./raw-object.js";
import type { Finding, PolicyConfig } from "./types.js";

/** Result of `removed-api-version` for one StatefulSet. */
export interface ApiVersionEvaluation {
  readonly findings: readonly Finding[];
  /** The object with `apiVersion: apps/v1` when that is safe; otherwise the input itself. */
  readonly fixed: unknown;
}

/**
 * The StatefulSet versions Kubernetes 1.16 stopped serving, with the default of
 * `spec.updateStrategy.type` each had: apps/v1 defaults to RollingUpdate, as v1beta2 did.
 */
const REMOVED_VERSIONS: Readonly<Record<string, { readonly updateStrategy: string }>> = {
  "apps/v1beta1": { updateStrategy: "OnDelete" },
  "apps/v1beta2": { updateStrategy: "RollingUpdate" },
};

/**
 * `removed-api-version`: a StatefulSet under another version of group apps than apps/v1,
 * which no Kubernetes since 1.16 accepts. The fix rewrites `apiVersion` only when the object
 * means the same under apps/v1: it has `spec.selector` (apps/v1 requires it; apps/v1beta1
 * defaulted it), and its update strategy does not rest on the old version's default.
 */
export function evaluateStatefulSetApiVersion(
  statefulSet: unknown,
  defaultNamespace: string,
  config: PolicyConfig,
): ApiVersionEvaluation {
  const severity = config.severities["removed-api-version"];
  const apiVersion = readString(statefulSet, "apiVersion");
  if (
    severity === "off" ||
    !isStatefulSet(statefulSet) ||
    apiVersion === undefined ||
    apiVersion === STATEFULSET_API_VERSION
  ) {
    return { findings: [], fixed: statefulSet };
  }
  const metadata = readMap(statefulSet, "metadata");
  const object = `StatefulSet ${readString(metadata, "namespace") || defaultNamespace}/${readString(metadata, "name") ?? "<unnamed>"}`;
  const removed = REMOVED_VERSIONS[apiVersion];
  const spec = readMap(statefulSet, "spec");
  const hasSelector = isJsonMap(spec?.["selector"]);
  const strategyChanges =
    removed !== undefined &&
    removed.updateStrategy !== "RollingUpdate" &&
    readString(readMap(spec, "updateStrategy"), "type") === undefined;
  const fixable = removed !== undefined && hasSelector && !strategyChanges;

  const served =
    removed === undefined ? `which Kubernetes never served` : `which Kubernetes removed in 1.16`;
  const steps: string[] = [];
  if (hasSelector) {
    steps.push(
      `change apiVersion to ${STATEFULSET_API_VERSION} (which requires spec.selector; this one has it)`,
    );
  } else {
    const podLabels = readStringMap(readMap(readMap(spec, "template"), "metadata")?.["labels"]);
    const labels = Object.entries(podLabels).map(([key, value]) => `${key}: ${value}`);
    steps.push(
      `change apiVersion to ${STATEFULSET_API_VERSION}`,
      `add spec.selector, which ${STATEFULSET_API_VERSION} requires: matchLabels with the pod ` +
        `template's labels (${labels.length > 0 ? labels.join(", ") : "it has none: add some"})`,
    );
  }
  if (strategyChanges) {
    steps.push(
      `set spec.updateStrategy.type: ${removed.updateStrategy} to keep ${apiVersion}'s default ` +
        `(${STATEFULSET_API_VERSION} defaults to RollingUpdate)`,
    );
  }
  const finding: Finding = {
    rule: "removed-api-version",
    severity,
    message: `${object} uses apiVersion ${apiVersion}, ${served}: ${steps.join("; ")}`,
    fixable,
    path: ["apiVersion"],
  };
  const fixed = fixable
    ? { ...(statefulSet as Record<string, unknown>), apiVersion: STATEFULSET_API_VERSION }
    : statefulSet;
  return { findings: [finding], fixed };
}
