import type { InputProblem } from "../../manifests/read.js";
import {
  isObjectPlace,
  type CheckReport,
  type CheckSummary,
  type ReportFinding,
} from "../../report/model.js";
import { toSafeText } from "./safe-text.js";

export interface TextOptions {
  /** ANSI colours: only when writing to a terminal. */
  readonly color: boolean;
}

type Style = "bold" | "dim" | "red" | "yellow" | "green" | "underline";

const ANSI: Record<Style, [string, string]> = {
  bold: ["\u001b[1m", "\u001b[22m"],
  dim: ["\u001b[2m", "\u001b[22m"],
  red: ["\u001b[31m", "\u001b[39m"],
  yellow: ["\u001b[33m", "\u001b[39m"],
  green: ["\u001b[32m", "\u001b[39m"],
  underline: ["\u001b[4m", "\u001b[24m"],
};

/**
 * Findings grouped by file, one aligned line each (`line:column  severity  rule  message`),
 * then one summary line. Files appear in input order.
 */
export function renderText(report: CheckReport, options: TextOptions): string {
  const paint = (style: Style, text: string): string =>
    options.color ? `${ANSI[style][0]}${text}${ANSI[style][1]}` : text;
  const byFile = new Map<string, ReportFinding[]>();
  for (const finding of report.findings) {
    const list = byFile.get(finding.file) ?? [];
    list.push(finding);
    byFile.set(finding.file, list);
  }
  const out: string[] = [];
  for (const [file, findings] of byFile) {
    out.push(paint("underline", toSafeText(file)));
    // audit: the group is the object (`namespace/name`), there is no position within it.
    const positions = findings.map((f) => (isObjectPlace(f) ? "" : `${f.line}:${f.column}`));
    const width = Math.max(...positions.map((p) => p.length));
    const ruleWidth = Math.max(...findings.map((f) => f.rule.length));
    findings.forEach((f, i) => {
      const severity =
        f.severity === "error" ? paint("red", "error  ") : paint("yellow", "warning");
      const fixable = f.fixable ? paint("dim", " (fixable)") : "";
      const position = width > 0 ? `${paint("dim", (positions[i] ?? "").padEnd(width))}  ` : "";
      out.push(
        `  ${position}${severity}  ` +
          `${f.rule.padEnd(ruleWidth)}  ${toSafeText(f.message)}${fixable}`,
      );
    });
    out.push("");
  }
  out.push(summarize(report, paint));
  return `${out.join("\n")}\n`;
}

function summarize(report: CheckReport, paint: (style: Style, text: string) => string): string {
  const { objects, errors, warnings } = report.summary;
  const scope = `${describeJudged(report.summary)} in ${pluralize(objects, "object")}`;
  if (errors === 0 && warnings === 0) return paint("green", `No problems: ${scope} checked.`);
  // `stsguard fix` edits files: no hint for audit, whose findings are in the cluster.
  const fixable = report.findings.filter((f) => f.fixable && !isObjectPlace(f)).length;
  const counts = `${pluralize(errors, "error")}, ${pluralize(warnings, "warning")}`;
  const hint = fixable > 0 ? `; ${fixable} fixable with \`stsguard fix\`` : "";
  return paint("bold", `${paint(errors > 0 ? "red" : "yellow", counts)} in ${scope}${hint}.`);
}

/** `file:line:column: severity: message`, the form compilers use, for stderr. */
export function renderProblems(problems: readonly InputProblem[]): string {
  return problems
    .map((p) => {
      const file = toSafeText(p.file);
      const at = p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`;
      return `${at}: ${p.severity}: ${toSafeText(p.message)}\n`;
    })
    .join("");
}

/**
 * What was judged: `3 per-pod Services`, `3 per-pod Services and 1 StatefulSet`. Findings sit on
 * both, so a count of per-pod Services alone would not hold what the findings were found in.
 */
export function describeJudged(summary: CheckSummary): string {
  const services = pluralize(summary.perPodServices, "per-pod Service");
  return summary.statefulSets > 0
    ? `${services} and ${pluralize(summary.statefulSets, "StatefulSet")}`
    : services;
}

export function pluralize(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
