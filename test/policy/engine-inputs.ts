/** Inputs for the policy engine tests: configs with overrides, StatefulSet summaries, lookups. */
import { defaultConfig, parseKubeVersion } from "../../src/config/config.js";
import type {
  ExtraLabel,
  PolicyConfig,
  RuleId,
  Severity,
  StatefulSetLookup,
  StatefulSetSummary,
} from "../../src/policy/index.js";
import { deepFreeze } from "../helpers/objects.js";

export interface PolicyOverrides {
  readonly severities?: Partial<Record<RuleId, Severity>>;
  /** e.g. "1.26". */
  readonly kubeVersion?: string;
  readonly labelPrefix?: string;
  readonly extraLabels?: readonly ExtraLabel[];
  readonly preexistingViolations?: "warn" | "enforce";
}

/** The default policy (Kubernetes 1.36) with the given settings changed; frozen. */
export function policyWith(overrides: PolicyOverrides = {}): PolicyConfig {
  const base = defaultConfig.policy;
  return deepFreeze({
    severities: { ...base.severities, ...overrides.severities },
    labelPrefix: overrides.labelPrefix ?? base.labelPrefix,
    extraLabels: overrides.extraLabels ?? base.extraLabels,
    kubeVersion:
      overrides.kubeVersion === undefined
        ? base.kubeVersion
        : parseKubeVersion(overrides.kubeVersion),
    preexistingViolations: overrides.preexistingViolations ?? base.preexistingViolations,
  });
}

/** A StatefulSet summary: `web` in `demo`, 2 replicas from 0, pods `app: web`, labelled `team: payments`. */
export function aSummary(overrides: Partial<StatefulSetSummary> = {}): StatefulSetSummary {
  const name = overrides.name ?? "web";
  return deepFreeze({
    namespace: "demo",
    name,
    replicas: 2,
    start: 0,
    podLabels: { app: name },
    labels: { app: name, team: "payments" },
    serviceName: name,
    ...overrides,
  });
}

export function found(overrides: Partial<StatefulSetSummary> = {}): StatefulSetLookup {
  return { status: "found", statefulSet: aSummary(overrides) };
}

export const notFound: StatefulSetLookup = Object.freeze({ status: "not-found" });

export const unavailable: StatefulSetLookup = Object.freeze({
  status: "unavailable",
  reason: "API server did not answer within 2s",
});
