/**
 * `stsguard audit`'s verdict over what it read: the policy engine on every per-pod Service and
 * every StatefulSet, then the guardrails decision (modes, exemptions) exactly as the webhook and
 * `check` make it, with the requesting user unknown. No I/O here.
 */
import type { StsguardConfig } from "../config/config.js";
import {
  decide,
  type AppliedExemption,
  type GuardrailSubject,
  type Mode,
  type UnevaluatedExemption,
} from "../guardrails/index.js";
import {
  evaluateGoverningService,
  evaluateService,
  evaluateStatefulSetChange,
  summarizePerPodService,
  withAutoscaler,
  type AutoscalerSummary,
  type Finding,
  type PerPodServiceSummary,
  type RuleId,
  type ServiceLookup,
  type ServiceSummary,
  type StatefulSetLookup,
  type StatefulSetSummary,
} from "../policy/index.js";
import { readMap, readString } from "../policy/raw-object.js";
import type { CheckReport, CheckedObject, ReportFinding } from "../report/model.js";
import type { ClusterObjects } from "./read-cluster.js";

/** Rules judged on a per-pod Service, and on a StatefulSet (a pass is reported for each). */
export const SERVICE_RULES: readonly RuleId[] = [
  "malformed-pod-name",
  "statefulset-not-found",
  "ordinal-out-of-range",
  "external-traffic-policy",
  "missing-labels",
  "selector-mismatch",
];
export const STATEFULSET_RULES: readonly RuleId[] = ["orphaned-service", "governing-service"];

export type RuleResult = "pass" | "fail" | "warn" | "skip";

/** One object and rule, as a policy report states it. */
export interface RuleOutcome {
  readonly rule: RuleId;
  readonly result: RuleResult;
  /** The severity the rule has in the configuration (a pass too). */
  readonly severity: "error" | "warning";
  readonly message: string;
  /** For `skip`: the exemption that lifted it. */
  readonly exemption: AppliedExemption | null;
}

export interface JudgedObject {
  readonly kind: "Service" | "StatefulSet";
  readonly namespace: string;
  readonly name: string;
  readonly mode: Mode;
  readonly outcomes: readonly RuleOutcome[];
}

export interface AuditResult {
  /** Findings as `check` prints them, placed at `namespace/name` instead of file:line. */
  readonly report: CheckReport;
  /** Every judged object, with one outcome per rule (none in namespaces whose mode is `off`). */
  readonly objects: readonly JudgedObject[];
  /** Exemptions that need facts audit does not have (the user, groups), with what they lack. */
  readonly unevaluated: readonly UnevaluatedExemption[];
  readonly counts: { readonly statefulSets: number; readonly perPodServices: number };
}

export function judgeCluster(
  cluster: ClusterObjects,
  config: StsguardConfig,
  now: Date,
): AuditResult {
  const policy = config.policy;
  const autoscalersByNamespace = new Map<string, AutoscalerSummary[]>();
  for (const autoscaler of cluster.autoscalers) {
    const list = autoscalersByNamespace.get(autoscaler.namespace) ?? [];
    list.push(autoscaler);
    autoscalersByNamespace.set(autoscaler.namespace, list);
  }
  const joined = cluster.statefulSets.map((sts) =>
    withAutoscaler(sts, autoscalersByNamespace.get(sts.namespace) ?? []),
  );
  const statefulSets = new Map(joined.map((s) => [`${s.namespace}/${s.name}`, s]));
  const services = new Map(cluster.services.map((s) => [`${s.namespace}/${s.name}`, s]));
  const namespacesByServiceName = new Map<string, string[]>();
  for (const service of cluster.services) {
    const list = namespacesByServiceName.get(service.name) ?? [];
    list.push(service.namespace);
    namespacesByServiceName.set(service.name, list);
  }
  const perPodByStatefulSet = new Map<string, PerPodServiceSummary[]>();
  for (const raw of cluster.perPodServices) {
    const summary = summarizePerPodService(raw, "");
    if (!summary) continue;
    const key = `${summary.namespace}/${summary.target.statefulSet}`;
    perPodByStatefulSet.set(key, [...(perPodByStatefulSet.get(key) ?? []), summary]);
  }

  const objects: JudgedObject[] = [];
  const checked: CheckedObject[] = [];
  const unevaluated = new Map<string, UnevaluatedExemption>();
  const judge = (
    subject: GuardrailSubject,
    rules: readonly RuleId[],
    findings: readonly Finding[],
  ): void => {
    const decision = decide(findings, subject, config, now);
    for (const u of decision.unevaluated) if (!unevaluated.has(u.name)) unevaluated.set(u.name, u);
    const place = `${subject.namespace}/${subject.name}`;
    const placed = decision.reported.map((f): ReportFinding => ({
      rule: f.rule,
      severity: f.severity,
      kind: subject.kind,
      namespace: subject.namespace,
      name: subject.name,
      file: place,
      line: 0,
      column: 0,
      message: f.message,
      fixable: f.fixable,
    }));
    if (decision.mode === "off") return;
    const outcomes: RuleOutcome[] = [];
    for (const rule of rules) {
      const configured = policy.severities[rule];
      if (configured === "off") continue;
      // orphaned-service has one finding per orphaned Service; a report has one result per rule.
      const indices = findings.flatMap((f, i) => (f.rule === rule ? [i] : []));
      if (indices.length === 0) {
        outcomes.push({ rule, result: "pass", severity: configured, message: "", exemption: null });
        continue;
      }
      const lifted = (i: number): boolean =>
        findings[i]?.severity === "error" && decision.findings[i]?.severity === "warning";
      const reported = indices.flatMap((i) => decision.reported[i] ?? []);
      const exemption = indices.every(lifted)
        ? (decision.applied.find((a) => a.rules.includes(rule)) ?? null)
        : null;
      let result: RuleResult = "warn";
      if (reported.some((f) => f.severity === "error")) result = "fail";
      else if (exemption) result = "skip";
      outcomes.push({
        rule,
        result,
        severity: configured,
        message: reported.map((f) => f.message).join("; "),
        exemption,
      });
    }
    objects.push({
      kind: subject.kind,
      namespace: subject.namespace,
      name: subject.name,
      mode: decision.mode,
      outcomes,
    });
    if (subject.kind === "Service" || placed.length > 0) {
      checked.push({
        kind: subject.kind,
        namespace: subject.namespace,
        name: subject.name,
        file: place,
        line: 0,
        column: 0,
        findings: placed,
      });
    }
  };
  const labelsOf = (namespace: string): Readonly<Record<string, string>> | null =>
    cluster.namespaceLabels?.get(namespace) ?? null;

  let perPodCount = 0;
  for (const raw of cluster.perPodServices) {
    const metadata = readMap(raw, "metadata");
    const namespace = readString(metadata, "namespace") ?? "";
    const name = readString(metadata, "name") ?? "";
    const target = summarizePerPodService(raw, namespace)?.target ?? null;
    const found = target && statefulSets.get(`${namespace}/${target.statefulSet}`);
    const lookup: StatefulSetLookup = found
      ? { status: "found", statefulSet: found }
      : { status: "not-found" };
    const evaluation = evaluateService(raw, { operation: "CREATE", lookup, namespace }, policy);
    if (!evaluation.perPod) continue;
    perPodCount += 1;
    judge(
      {
        kind: "Service",
        namespace,
        name,
        statefulSet: target?.statefulSet ?? null,
        namespaceLabels: labelsOf(namespace),
        user: null,
      },
      SERVICE_RULES,
      evaluation.findings,
    );
  }
  for (const sts of joined) {
    const own = perPodByStatefulSet.get(`${sts.namespace}/${sts.name}`) ?? [];
    const findings = [
      ...evaluateStatefulSetChange(sts, own, policy),
      ...evaluateGoverningService(
        sts,
        lookupService(sts, services, namespacesByServiceName),
        policy,
      ),
    ];
    judge(
      {
        kind: "StatefulSet",
        namespace: sts.namespace,
        name: sts.name,
        statefulSet: sts.name,
        namespaceLabels: labelsOf(sts.namespace),
        user: null,
      },
      STATEFULSET_RULES,
      findings,
    );
  }

  const findings = checked.flatMap((c) => c.findings);
  return {
    report: {
      summary: {
        objects: perPodCount + cluster.statefulSets.length,
        perPodServices: perPodCount,
        statefulSets: cluster.statefulSets.length,
        errors: findings.filter((f) => f.severity === "error").length,
        warnings: findings.filter((f) => f.severity === "warning").length,
      },
      findings,
      checked,
      problems: [],
    },
    objects,
    unevaluated: [...unevaluated.values()],
    counts: { statefulSets: cluster.statefulSets.length, perPodServices: perPodCount },
  };
}

function lookupService(
  sts: StatefulSetSummary,
  services: ReadonlyMap<string, ServiceSummary>,
  namespacesByName: ReadonlyMap<string, readonly string[]>,
): ServiceLookup {
  if (sts.serviceName === "") return { status: "not-found" };
  const found = services.get(`${sts.namespace}/${sts.serviceName}`);
  if (found) return { status: "found", service: found };
  return { status: "not-found", elsewhere: namespacesByName.get(sts.serviceName) ?? [] };
}
