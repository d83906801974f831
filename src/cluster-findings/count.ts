/**
 * Current findings in the cluster, counted from the webhook's caches (summaries only) for the
 * `stsguard_cluster_findings{rule,severity}` gauge. Computed when Prometheus scrapes, never per
 * admission request. The caches keep no whole objects, so only the rules that need no more than
 * a summary are counted: the ones about StatefulSets and the selectors that point at them.
 */
import type { StsguardConfig } from "../config/config.js";
import { decide } from "../guardrails/index.js";
import type { CachedService, ClusterSnapshot } from "../kube/cluster-source.js";
import {
  evaluateGoverningService,
  evaluateService,
  evaluateStatefulSetChange,
  type Finding,
  type FindingSeverity,
  type PerPodServiceSummary,
  type RuleId,
  type ServiceLookup,
  type StatefulSetLookup,
} from "../policy/index.js";

/** Rules a cache summary is enough for; the gauge has a series for each, with both severities. */
export const CLUSTER_FINDING_RULES: readonly RuleId[] = [
  "statefulset-not-found",
  "ordinal-out-of-range",
  "selector-mismatch",
  "orphaned-service",
  "governing-service",
];

export interface FindingCount {
  readonly rule: RuleId;
  readonly severity: FindingSeverity;
  readonly count: number;
}

const SEVERITIES: readonly FindingSeverity[] = ["error", "warning"];

/** A namespace's labels as the namespace cache holds them now; null when it does not know them. */
export type NamespaceLabelsOf = (namespace: string) => Readonly<Record<string, string>> | null;

/**
 * Counts by rule and severity (every pair, zeros included, so alerts see a series), after
 * exemptions and modes as the webhook applies them (namespace labels from the cache); namespaces
 * in mode `off` are not counted. The user is unknown here, so exemptions by user or group do not
 * apply.
 */
export function countClusterFindings(
  snapshot: ClusterSnapshot,
  config: StsguardConfig,
  now: Date,
  namespaceLabels: NamespaceLabelsOf = () => null,
): FindingCount[] {
  const counts = new Map<string, number>();
  for (const rule of CLUSTER_FINDING_RULES) {
    for (const severity of SEVERITIES) counts.set(`${rule} ${severity}`, 0);
  }
  const add = (findings: readonly Finding[]): void => {
    for (const f of findings) {
      const key = `${f.rule} ${f.severity}`;
      const current = counts.get(key);
      if (current !== undefined) counts.set(key, current + 1);
    }
  };
  const statefulSets = new Map(snapshot.statefulSets.map((s) => [`${s.namespace}/${s.name}`, s]));
  const services = new Map(
    snapshot.services.map((s) => [`${s.service.namespace}/${s.service.name}`, s]),
  );
  const perPodByStatefulSet = new Map<string, PerPodServiceSummary[]>();
  for (const { perPod } of snapshot.services) {
    if (!perPod) continue;
    const key = `${perPod.namespace}/${perPod.target.statefulSet}`;
    perPodByStatefulSet.set(key, [...(perPodByStatefulSet.get(key) ?? []), perPod]);
  }
  const judge = (
    kind: "Service" | "StatefulSet",
    namespace: string,
    name: string,
    statefulSet: string,
    findings: readonly Finding[],
  ): void => {
    if (findings.length === 0) return;
    const labels = namespaceLabels(namespace);
    const subject = { kind, namespace, name, statefulSet, namespaceLabels: labels, user: null };
    const decision = decide(findings, subject, config, now);
    if (decision.mode !== "off") add(decision.findings);
  };

  for (const cached of snapshot.services) {
    const perPod = cached.perPod;
    if (!perPod) continue;
    const found = statefulSets.get(`${perPod.namespace}/${perPod.target.statefulSet}`);
    const lookup: StatefulSetLookup = found
      ? { status: "found", statefulSet: found }
      : { status: "not-found" };
    const evaluation = evaluateService(
      asServiceObject(cached),
      { operation: "CREATE", lookup, namespace: perPod.namespace },
      config.policy,
    );
    judge(
      "Service",
      perPod.namespace,
      perPod.name,
      perPod.target.statefulSet,
      evaluation.findings.filter((f) => CLUSTER_FINDING_RULES.includes(f.rule)),
    );
  }
  for (const sts of snapshot.statefulSets) {
    const governing = services.get(`${sts.namespace}/${sts.serviceName}`);
    const lookup: ServiceLookup = governing
      ? { status: "found", service: governing.service }
      : { status: "not-found" };
    judge("StatefulSet", sts.namespace, sts.name, sts.name, [
      ...evaluateStatefulSetChange(
        sts,
        perPodByStatefulSet.get(`${sts.namespace}/${sts.name}`) ?? [],
        config.policy,
      ),
      ...evaluateGoverningService(sts, lookup, config.policy),
    ]);
  }
  return [...counts.entries()].map(([key, count]) => {
    const [rule, severity] = key.split(" ") as [RuleId, FindingSeverity];
    return { rule, severity, count };
  });
}

/** The selector is all the lookup-based Service rules read; the rest stays out of the cache. */
function asServiceObject(cached: CachedService): unknown {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: cached.service.name, namespace: cached.service.namespace },
    spec: { selector: cached.service.selector },
  };
}
