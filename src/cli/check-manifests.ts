import {
  decide,
  namespaceMode,
  type GuardrailDecision,
  type GuardrailSettings,
  type GuardrailSubject,
} from "../guardrails/index.js";
import type { InputProblem, ManifestObject, SourcePosition } from "../manifests/read.js";
import { summarizeNamespace } from "../namespaces/source.js";
import {
  evaluateGoverningService,
  evaluateService,
  evaluateStatefulSetApiVersion,
  evaluateStatefulSetChange,
  needsGoverningService,
  parsePodTarget,
  readAutoscaler,
  readPodNameSelector,
  summarizeStatefulSet,
  type Finding,
  type PolicyConfig,
  type ServiceLookup,
  type StatefulSetLookup,
} from "../policy/index.js";
import { readMap } from "../policy/raw-object.js";
import type { CheckReport, CheckedObject, ReportFinding } from "../report/model.js";
import type { StatefulSetResolver } from "./statefulset-resolver.js";

export interface CheckOptions {
  readonly config: PolicyConfig;
  readonly defaultNamespace: string;
  readonly resolver: StatefulSetResolver;
  /** Modes and exemptions (a StsguardConfig fits); applied as the webhook applies them. */
  readonly guardrails: GuardrailSettings;
  /** The clock exemptions expire by. */
  readonly now: Date;
}

type Labels = Readonly<Record<string, string>>;

// Live lookups run a few at a time: fast enough, and gentle with the API server.
const LOOKUP_CONCURRENCY = 8;
const UNNAMED = "<unnamed>";

/** Evaluates every per-pod Service and StatefulSet of the inputs with the policy engine. */
export async function checkManifests(
  documents: readonly ManifestObject[],
  options: CheckOptions,
): Promise<CheckReport> {
  const lookups = await resolveTargets(documents, options.resolver);
  const checked: CheckedObject[] = [];
  const problems: InputProblem[] = [];
  let statefulSets = 0;
  const namespaces = readNamespaceLabels(documents);
  for (const doc of documents) {
    // `off` namespaces are skipped, as the webhook skips them.
    const labels = namespaces.get(doc.namespace) ?? null;
    if (namespaceMode(doc.namespace, labels, options.guardrails).mode === "off") continue;
    const guard = (findings: readonly Finding[], subject: GuardrailSubject): Finding[] => {
      const decision = decide(findings, subject, options.guardrails, options.now);
      problems.push(...describeUnevaluated(doc, decision));
      return [...decision.reported];
    };
    const invalid = describeInvalidAutoscaler(doc);
    if (invalid) problems.push(invalid);
    if (isCoreService(doc)) {
      const result = checkService(doc, lookups, options.config, labels, guard);
      if (!result) continue;
      checked.push(result.checked);
      if (result.problem) problems.push(result.problem);
    } else if (doc.kind === "StatefulSet") {
      const result = await checkStatefulSet(doc, options, labels, guard);
      if (result.judged) statefulSets += 1;
      if (result.checked) checked.push(result.checked);
      problems.push(...result.problems);
    }
  }
  const findings = checked.flatMap((c) => c.findings);
  return {
    summary: {
      objects: documents.length,
      perPodServices: checked.filter((c) => c.kind === "Service").length,
      statefulSets,
      errors: findings.filter((f) => f.severity === "error").length,
      warnings: findings.filter((f) => f.severity === "warning").length,
    },
    findings,
    checked,
    problems,
  };
}

export function isCoreService(doc: ManifestObject): boolean {
  return doc.kind === "Service" && doc.apiVersion === "v1";
}

/** The StatefulSet each per-pod Service names, looked up once per `<namespace>/<name>`. */
async function resolveTargets(
  documents: readonly ManifestObject[],
  resolver: StatefulSetResolver,
): Promise<Map<string, StatefulSetLookup>> {
  const keys = new Map<string, { namespace: string; name: string }>();
  for (const doc of documents) {
    if (!isCoreService(doc)) continue;
    const target = readTarget(doc);
    if (target) keys.set(`${doc.namespace}/${target}`, { namespace: doc.namespace, name: target });
  }
  const lookups = new Map<string, StatefulSetLookup>();
  const pending = [...keys.entries()];
  const worker = async (): Promise<void> => {
    for (let next = pending.shift(); next; next = pending.shift()) {
      const [key, { namespace, name }] = next;
      lookups.set(key, await resolver.lookup(namespace, name));
    }
  };
  await Promise.all(Array.from({ length: LOOKUP_CONCURRENCY }, worker));
  return lookups;
}

/** Labels of the Namespace objects among the inputs; other namespaces' labels are unknown. */
function readNamespaceLabels(documents: readonly ManifestObject[]): Map<string, Labels> {
  const labels = new Map<string, Labels>();
  for (const doc of documents) {
    const namespace = summarizeNamespace(doc.object);
    if (namespace) labels.set(namespace.name, namespace.labels);
  }
  return labels;
}

/**
 * Offline there is no requesting user, and maybe no Namespace object: exemptions (and namespace
 * rules) that need those cannot be evaluated. They are reported as warnings on stderr, and the
 * errors they might have lifted stay errors, so `check` is never more lenient than the cluster
 * could be.
 */
function describeUnevaluated(doc: ManifestObject, decision: GuardrailDecision): InputProblem[] {
  const at = { file: doc.file, ...doc.locate(["metadata", "name"], "value") };
  const what = `${doc.kind} ${doc.namespace}/${doc.name ?? UNNAMED}`;
  const needs = {
    user: "the requesting user",
    groups: "the requesting user's groups",
    namespaceLabels: `the labels of namespace ${doc.namespace} (no Namespace object among the inputs)`,
  } as const;
  const exemptions = decision.unevaluated.map((u): InputProblem => ({
    ...at,
    severity: "warning",
    message:
      `${what}: exemption ${u.name} could not be evaluated offline: it needs ` +
      `${u.missing.map((m) => needs[m]).join(" and ")}; ${u.rules.join(", ")} stay errors here`,
  }));
  const rules = decision.namespaceMode.unevaluatedRules.map((rule): InputProblem => ({
    ...at,
    severity: "warning",
    message:
      `${what}: namespace rule ${rule} selects by label, but namespace ${doc.namespace} has ` +
      `no Namespace object among the inputs; checked as mode ${decision.mode} (the strictest it could be)`,
  }));
  return [...rules, ...exemptions];
}

/**
 * An HPA (or ScaledObject) of a StatefulSet that the API server (or KEDA) would reject widens
 * nothing: say so where it is, since a chart's templating (a quoted maxReplicas) is the usual cause
 * and the findings it leaves would otherwise puzzle.
 */
function describeInvalidAutoscaler(doc: ManifestObject): InputProblem | null {
  const reading = readAutoscaler(doc.object, doc.namespace);
  if (reading.status !== "invalid") return null;
  return {
    file: doc.file,
    ...doc.locate(reading.path, "value"),
    severity: "warning",
    message:
      `${reading.kind} ${doc.namespace}/${doc.name ?? UNNAMED}: ${reading.reason}, so it is ` +
      `not valid and does not widen the ordinals of StatefulSet ${reading.statefulSet}`,
  };
}

function readTarget(doc: ManifestObject): string | undefined {
  const selector = readPodNameSelector(doc.object);
  return selector ? parsePodTarget(selector.value)?.statefulSet : undefined;
}

type Guard = (findings: readonly Finding[], subject: GuardrailSubject) => Finding[];

function checkService(
  doc: ManifestObject,
  lookups: ReadonlyMap<string, StatefulSetLookup>,
  config: PolicyConfig,
  labels: Labels | null,
  guard: Guard,
): { checked: CheckedObject; problem?: InputProblem } | null {
  const target = readTarget(doc);
  const lookup: StatefulSetLookup = (target && lookups.get(`${doc.namespace}/${target}`)) || {
    status: "not-found",
  };
  const evaluation = evaluateService(
    doc.object,
    { operation: "CREATE", lookup, namespace: doc.namespace },
    config,
  );
  if (!evaluation.perPod) return null;
  const findings = guard(evaluation.findings, {
    kind: "Service",
    namespace: doc.namespace,
    name: doc.name ?? UNNAMED,
    statefulSet: target ?? null,
    namespaceLabels: labels,
    user: null,
  });
  const checked = toCheckedObject(doc, findings);
  if (lookup.status !== "unavailable") return { checked };
  const at = doc.locate(SELECTOR_PATH, "value");
  return {
    checked,
    problem: {
      file: doc.file,
      ...at,
      severity: "error",
      message: `Service ${doc.namespace}/${doc.name ?? UNNAMED}: ${lookup.reason}`,
    },
  };
}

const SELECTOR_PATH = ["spec", "selector", "statefulset.kubernetes.io/pod-name"];

async function checkStatefulSet(
  doc: ManifestObject,
  options: CheckOptions,
  labels: Labels | null,
  guard: Guard,
): Promise<{ checked?: CheckedObject; problems: InputProblem[]; judged: boolean }> {
  const summary = summarizeStatefulSet(doc.object, options.defaultNamespace);
  if (!summary) return { problems: [], judged: false };
  const problems: InputProblem[] = [];
  let sts = summary;
  const problem = (severity: "error" | "warning", message: string): InputProblem => ({
    file: doc.file,
    ...doc.locate(["metadata", "name"], "value"),
    severity,
    message: `StatefulSet ${sts.namespace}/${sts.name}: ${message}`,
  });
  const findings: Finding[] = [
    ...evaluateStatefulSetApiVersion(doc.object, options.defaultNamespace, options.config).findings,
  ];
  try {
    sts = await options.resolver.joinAutoscaler(summary);
    const services = await options.resolver.perPodServices(sts.namespace, sts.name);
    findings.push(...evaluateStatefulSetChange(sts, services, options.config));
  } catch (error: unknown) {
    problems.push(problem("error", (error as Error).message));
  }
  const governing: ServiceLookup = needsGoverningService(sts, options.config)
    ? await options.resolver.lookupService(sts.namespace, sts.serviceName)
    : { status: "not-found" };
  if (governing.status === "unresolved") {
    // Not a finding: the Service may well exist where the inputs do not show it.
    problems.push(problem("warning", `governing-service not checked: ${governing.reason}`));
  } else if (governing.status === "unavailable") {
    problems.push(problem("error", governing.reason));
  }
  findings.push(...evaluateGoverningService(sts, governing, options.config));
  const reported = guard(findings, {
    kind: "StatefulSet",
    namespace: sts.namespace,
    name: sts.name,
    statefulSet: sts.name,
    namespaceLabels: labels,
    user: null,
  });
  return reported.length > 0
    ? { checked: toCheckedObject(doc, reported), problems, judged: true }
    : { problems, judged: true };
}

function toCheckedObject(doc: ManifestObject, findings: readonly Finding[]): CheckedObject {
  const name = doc.name ?? UNNAMED;
  const placed = findings
    .map((f): ReportFinding => ({
      rule: f.rule,
      severity: f.severity,
      kind: doc.kind,
      namespace: doc.namespace,
      name,
      file: doc.file,
      ...locateFinding(doc, f),
      message: f.message,
      fixable: f.fixable,
    }))
    .sort((a, b) => a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule));
  return {
    kind: doc.kind,
    namespace: doc.namespace,
    name,
    file: doc.file,
    ...doc.locate(["metadata", "name"], "value"),
    findings: placed,
  };
}

/**
 * Where a finding points: the selector value for the selector rules (the wrong text is the
 * value), otherwise the key of the field at fault. When `externalTrafficPolicy` is absent,
 * the `type` (or `externalIPs`) that makes the Service external is the line to look at; for
 * labels, `metadata.labels` when it exists.
 */
export function locateFinding(doc: ManifestObject, finding: Finding): SourcePosition {
  const path = finding.path;
  if (path[0] === "spec" && path[1] === "selector") return doc.locate(path, "value");
  const spec = readMap(doc.object, "spec");
  if (finding.rule === "external-traffic-policy" && path.length === 1 && spec) {
    if (spec["type"] !== undefined) return doc.locate(["spec", "type"], "key");
    if (spec["externalIPs"] !== undefined) return doc.locate(["spec", "externalIPs"], "key");
  }
  if (
    finding.rule === "missing-labels" &&
    readMap(doc.object, "metadata")?.["labels"] !== undefined
  ) {
    return doc.locate(["metadata", "labels"], "key");
  }
  return doc.locate(path, "key");
}
