import type { InputProblem } from "../../manifests/read.js";
import { isObjectPlace, type CheckReport } from "../../report/model.js";
import { toSafeText } from "./safe-text.js";
import { describeJudged, pluralize } from "./text.js";

/**
 * `--output github`: GitHub Actions workflow commands, which the runner turns into annotations
 * on the pull request's changed lines:
 * `::error file=F,line=L,col=C,title=RULE::MESSAGE`.
 */
export function renderGithub(report: CheckReport, problems: readonly InputProblem[]): string {
  const lines: string[] = [];
  for (const f of report.findings) {
    const message = f.fixable ? `${f.message} (fixable with stsguard fix)` : f.message;
    // audit: no file to annotate; the annotation names the object.
    const properties: Readonly<Record<string, string | number>> = isObjectPlace(f)
      ? { title: `${f.rule} ${f.file}` }
      : { file: f.file, line: f.line, col: f.column, title: f.rule };
    lines.push(toCommand(f.severity, properties, message));
  }
  for (const p of problems) {
    const properties: Record<string, string | number> = { file: p.file, title: "stsguard" };
    if (p.line !== undefined) properties["line"] = p.line;
    if (p.column !== undefined) properties["col"] = p.column;
    lines.push(toCommand(p.severity, properties, p.message));
  }
  const { errors, warnings } = report.summary;
  lines.push(
    `stsguard: ${pluralize(errors, "error")}, ${pluralize(warnings, "warning")} in ${describeJudged(report.summary)}`,
  );
  return `${lines.join("\n")}\n`;
}

function toCommand(
  command: "error" | "warning",
  properties: Readonly<Record<string, string | number>>,
  message: string,
): string {
  const props = Object.entries(properties)
    .map(([key, value]) => `${key}=${escapeProperty(toSafeText(String(value)))}`)
    .join(",");
  return `::${command} ${props}::${escapeData(toSafeText(message))}`;
}

// https://docs.github.com/actions/reference/workflow-commands-for-github-actions and
// @actions/core's command.ts: data escapes %, CR, LF; property values also `:` and `,`.
export function escapeData(value: string): string {
  return value.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

export function escapeProperty(value: string): string {
  return escapeData(value).replace(/:/g, "%3A").replace(/,/g, "%2C");
}
