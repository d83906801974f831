/**
 * The chart's PrometheusRule alerts and what their expressions read: shared by the chart test
 * (every expression parses as PromQL) and the e2e suite (every metric an alert uses is on a real
 * serve's /metrics).
 */
import { parser } from "@prometheus-io/lezer-promql";
import { findByKind, renderChart } from "./helm.js";

/** Metrics an alert may use that stsguard does not export: the API server's own. */
export const EXTERNAL_METRICS: ReadonlySet<string> = new Set([
  "apiserver_admission_webhook_rejection_count",
]);

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly annotations: Record<string, string>;
}

export function renderAlertRules(): AlertRule[] {
  const objects = renderChart({ values: { metrics: { prometheusRule: { enabled: true } } } });
  const [rule] = findByKind(objects, "PrometheusRule");
  const groups = (rule as unknown as { spec: { groups: { rules: AlertRule[] }[] } }).spec.groups;
  return groups.flatMap((g) => g.rules);
}

/** Syntax errors (Lezer error nodes) and the metric names of every vector selector. */
export function analysePromQl(expr: string): { errors: string[]; metrics: string[] } {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const metrics: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`syntax error at ${node.from}: ${expr.slice(node.from, node.from + 20)}`);
      if (node.name === "VectorSelector") {
        const identifier = node.node.getChild("Identifier");
        if (identifier) metrics.push(expr.slice(identifier.from, identifier.to));
      }
    },
  });
  return { errors, metrics };
}
