import { isObjectPlace, type CheckReport, type ReportFinding } from "../../report/model.js";
import { toSafeJson } from "./safe-text.js";

/**
 * `--output json`: `{summary, findings}` exactly as DESIGN.md and docs/rules.md ("JSON output")
 * describe. Keys are written in a fixed order so the output diffs cleanly between runs.
 */
export function renderJson(report: CheckReport): string {
  const { objects, perPodServices, errors, warnings } = report.summary;
  const document = {
    summary: { objects, perPodServices, errors, warnings },
    findings: report.findings.map(toJsonFinding),
  };
  return `${toSafeJson(JSON.stringify(document, null, 2))}\n`;
}

/** audit's findings have no file: `namespace` and `name` say where they are. */
type JsonFinding = Omit<ReportFinding, "file" | "line" | "column"> &
  Partial<Pick<ReportFinding, "file" | "line" | "column">>;

function toJsonFinding(f: ReportFinding): JsonFinding {
  if (isObjectPlace(f)) {
    return {
      rule: f.rule,
      severity: f.severity,
      kind: f.kind,
      namespace: f.namespace,
      name: f.name,
      message: f.message,
      fixable: f.fixable,
    };
  }
  return {
    rule: f.rule,
    severity: f.severity,
    kind: f.kind,
    namespace: f.namespace,
    name: f.name,
    file: f.file,
    line: f.line,
    column: f.column,
    message: f.message,
    fixable: f.fixable,
  };
}
