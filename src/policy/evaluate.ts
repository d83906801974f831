import { isExternallyAccessible } from "./objects.js";
import { describeOrdinalRange, describeRangeFix, hasOrdinal } from "./ordinal-range.js";
import { parsePodTarget, toPodName } from "./pod-target.js";
import { readMap } from "./raw-object.js";
import {
  checkLabels,
  checkPodName,
  checkStatefulSet,
  checkTrafficPolicy,
  missingLabels,
  readServiceFacts,
  requiredLabels,
  type RawFinding,
  type ServiceFacts,
} from "./service-rules.js";
import type {
  Finding,
  Operation,
  PerPodServiceSummary,
  PolicyConfig,
  StatefulSetLookup,
  StatefulSetSummary,
  ServiceEvaluation,
} from "./types.js";

export interface ServiceContext {
  readonly operation: Operation;
  /** The StatefulSet named by the selector, as the caller's source answered. */
  readonly lookup: StatefulSetLookup;
  /** The stored object, on UPDATE: rules it already broke only warn (`preexistingViolations`). */
  readonly oldService?: unknown;
  /** Namespace for an object without one (manifests); admission objects carry theirs. */
  readonly namespace?: string;
}

/** Evaluates a Service against every Service-side rule and returns findings and the fixed object. */
export function evaluateService(
  service: unknown,
  context: ServiceContext,
  config: PolicyConfig,
): ServiceEvaluation {
  const facts = readServiceFacts(service, context.lookup, parsePodTarget, context.namespace);
  if (!facts) return { perPod: false, target: null, findings: [], fixed: service };
  const preexisting = preexistingRules(facts, context, config);
  const findings: Finding[] = [];
  for (const raw of collectRawFindings(facts, config)) {
    const severity = config.severities[raw.rule];
    if (severity === "off") continue;
    if (severity === "error" && preexisting.has(raw.rule)) {
      findings.push({
        ...raw,
        severity: "warning",
        message: `${raw.message} (already so before this update, so only a warning)`,
      });
    } else {
      findings.push({ ...raw, severity });
    }
  }
  return { perPod: true, target: facts.target, findings, fixed: fixService(facts, config) };
}

function collectRawFindings(facts: ServiceFacts, config: PolicyConfig): RawFinding[] {
  return [
    ...checkPodName(facts),
    ...checkStatefulSet(facts, config),
    ...checkTrafficPolicy(facts, config),
    ...checkLabels(facts, config),
  ];
}

const NO_RULES: ReadonlySet<string> = new Set();

function preexistingRules(
  facts: ServiceFacts,
  context: ServiceContext,
  config: PolicyConfig,
): ReadonlySet<string> {
  if (context.operation !== "UPDATE" || config.preexistingViolations !== "warn") return NO_RULES;
  const old = readServiceFacts(
    context.oldService,
    context.lookup,
    parsePodTarget,
    context.namespace,
  );
  if (!old) return NO_RULES;
  // The lookup answers for the new target's StatefulSet. When the update retargets another
  // StatefulSet, what the old object broke against its own StatefulSet is unknown here, so
  // those rules are not counted as pre-existing (enforced, never wrongly downgraded).
  const sameStatefulSet =
    old.namespace === facts.namespace && old.target?.statefulSet === facts.target?.statefulSet;
  const oldFacts: ServiceFacts = sameStatefulSet
    ? old
    : {
        ...old,
        lookup: { status: "unavailable", reason: "the old object selects another StatefulSet" },
      };
  return new Set(collectRawFindings(oldFacts, config).map((f) => f.rule));
}

/**
 * The object with the mutating fixes applied: `Local` where Kubernetes accepts it, and the
 * required labels. Returns the same reference when nothing changes, so callers can skip
 * the patch. Only fields the fixes own are touched: a stale `externalTrafficPolicy` on a
 * Service that is no longer externally accessible (an UPDATE from LoadBalancer to ClusterIP
 * still carries it at mutating time) is left for the API server to drop.
 */
function fixService(facts: ServiceFacts, config: PolicyConfig): unknown {
  const service = facts.service;
  const fixPolicy =
    config.severities["external-traffic-policy"] !== "off" &&
    isExternallyAccessible(service, config.kubeVersion) &&
    readMap(service, "spec")?.["externalTrafficPolicy"] !== "Local";
  const missing =
    config.severities["missing-labels"] === "off"
      ? []
      : missingLabels(service, requiredLabels(facts.target, facts.lookup, config));
  if (!fixPolicy && missing.length === 0) return service;

  // Copy only the maps on the changed paths: unchanged subtrees stay shared with the input,
  // which keeps the hot path cheap and lets the patch diff skip them by reference.
  const fixed: Record<string, unknown> = { ...(service as Record<string, unknown>) };
  if (fixPolicy) {
    fixed["spec"] = { ...readMap(service, "spec"), externalTrafficPolicy: "Local" };
  }
  if (missing.length > 0) {
    const metadata = readMap(service, "metadata");
    fixed["metadata"] = {
      ...metadata,
      labels: { ...readMap(metadata, "labels"), ...Object.fromEntries(missing) },
    };
  }
  return fixed;
}

/**
 * `orphaned-service`: per-pod Services that a StatefulSet create, update or scale leaves
 * pointing outside the ordinals it may have (possibleOrdinals: with an autoscaler, those below
 * start + maxReplicas stay, whoever scales and to whatever count within reach of it).
 */
export function evaluateStatefulSetChange(
  sts: StatefulSetSummary,
  services: readonly PerPodServiceSummary[],
  config: PolicyConfig,
): Finding[] {
  const severity = config.severities["orphaned-service"];
  if (severity === "off") return [];
  return services
    .filter(
      (svc) =>
        svc.namespace === sts.namespace &&
        svc.target.statefulSet === sts.name &&
        !hasOrdinal(sts, svc.target.ordinal),
    )
    .map((svc) => ({
      rule: "orphaned-service",
      severity,
      message:
        `StatefulSet ${sts.namespace}/${sts.name} will have ${describeOrdinalRange(sts)}, so ` +
        `Service ${svc.name} selects pod ${toPodName(svc.target)}, which will not exist; ` +
        `delete that Service or ${orphanFix(sts)}`,
      fixable: false,
      path: ["spec", "replicas"],
    }));
}

/** Short (the message has named the autoscaler): the warning must fit 256 characters. */
function orphanFix(sts: StatefulSetSummary): string {
  const fix = describeRangeFix(sts, true);
  return fix === "scale it up" ? "keep enough replicas" : fix;
}

/** `<rule-id>: <message>`, the form used in denials, warnings and logs. */
export function formatFinding(finding: Finding): string {
  return `${finding.rule}: ${finding.message}`;
}
