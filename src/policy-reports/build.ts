/**
 * Policy reports from `audit`'s verdict: one report per namespace, named `stsguard`, with one
 * result per object and rule, in the shape both published CRDs accept
 * (`wgpolicyk8s.io/v1alpha2` PolicyReport and its successor `openreports.io/v1alpha1` Report).
 * Pure: the writer (write.ts) does the API calls.
 */
import type { JudgedObject, RuleOutcome } from "../audit/judge.js";
import { formatInstant } from "../guardrails/index.js";

export const REPORT_APIS = ["wgpolicyk8s", "openreports"] as const;
export type ReportApi = (typeof REPORT_APIS)[number];

export interface ReportResource {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Plural, as in the URL. */
  readonly plural: string;
}

export const REPORT_RESOURCES: Readonly<Record<ReportApi, ReportResource>> = {
  wgpolicyk8s: {
    group: "wgpolicyk8s.io",
    version: "v1alpha2",
    kind: "PolicyReport",
    plural: "policyreports",
  },
  openreports: { group: "openreports.io", version: "v1alpha1", kind: "Report", plural: "reports" },
};

/** The name of stsguard's report in every namespace. */
export const REPORT_NAME = "stsguard";
/** `policy` and `source` of every result. */
export const POLICY_NAME = "stsguard";

/** A label that marks the reports stsguard owns (the namespace's report of that name is ours). */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";

export interface ReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

/** A report body without resourceVersion; the writer adds it on update. */
export interface PolicyReportBody {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
  };
  readonly source?: string;
  readonly summary: ReportSummary;
  readonly results: readonly Record<string, unknown>[];
}

const API_VERSIONS: Readonly<Record<"Service" | "StatefulSet", string>> = {
  Service: "v1",
  StatefulSet: "apps/v1",
};

/** The report of every namespace with at least one result, sorted by namespace. */
export function buildReports(
  objects: readonly JudgedObject[],
  api: ReportApi,
  now: Date,
): PolicyReportBody[] {
  const byNamespace = new Map<string, JudgedObject[]>();
  for (const object of objects) {
    if (object.outcomes.length === 0) continue;
    const list = byNamespace.get(object.namespace) ?? [];
    list.push(object);
    byNamespace.set(object.namespace, list);
  }
  const timestamp = { seconds: Math.floor(now.getTime() / 1000), nanos: 0 };
  const resource = REPORT_RESOURCES[api];
  return [...byNamespace.keys()].sort().map((namespace) => {
    const summary: ReportSummary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
    const results: Record<string, unknown>[] = [];
    const inNamespace = [...(byNamespace.get(namespace) ?? [])].sort(
      (a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
    );
    for (const object of inNamespace) {
      for (const outcome of object.outcomes) {
        summary[outcome.result] += 1;
        results.push(toResult(object, outcome, timestamp));
      }
    }
    return {
      apiVersion: `${resource.group}/${resource.version}`,
      kind: resource.kind,
      metadata: {
        name: REPORT_NAME,
        namespace,
        labels: { [MANAGED_BY_LABEL]: "stsguard" },
      },
      // openreports.io Reports name their producer at the top level too.
      ...(api === "openreports" ? { source: POLICY_NAME } : {}),
      summary,
      results,
    };
  });
}

function toResult(
  object: JudgedObject,
  outcome: RuleOutcome,
  timestamp: { seconds: number; nanos: number },
): Record<string, unknown> {
  const result: Record<string, unknown> = {
    policy: POLICY_NAME,
    rule: outcome.rule,
    result: outcome.result,
    // The CRDs know critical/high/medium/low/info: an error is what the webhook denies.
    severity: outcome.severity === "error" ? "high" : "medium",
    category: "StatefulSet per-pod Services",
    source: POLICY_NAME,
    scored: true,
    timestamp,
    message:
      outcome.message || `${object.kind} ${object.namespace}/${object.name} passes ${outcome.rule}`,
    resources: [
      {
        apiVersion: API_VERSIONS[object.kind],
        kind: object.kind,
        namespace: object.namespace,
        name: object.name,
      },
    ],
  };
  const properties: Record<string, string> = { mode: object.mode };
  if (outcome.exemption) {
    properties["exemption"] = outcome.exemption.name;
    properties["exemptionReason"] = outcome.exemption.reason;
    properties["exemptionExpires"] =
      outcome.exemption.expiresAt === null ? "never" : formatInstant(outcome.exemption.expiresAt);
  }
  result["properties"] = properties;
  return result;
}
