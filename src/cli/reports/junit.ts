import type { InputProblem } from "../../manifests/read.js";
import {
  formatPlace,
  isObjectPlace,
  type CheckReport,
  type CheckedObject,
  type ReportFinding,
} from "../../report/model.js";
import { toSafeXml } from "./safe-text.js";

/**
 * `--output junit`: JUnit XML as GitLab (`artifacts:reports:junit`) and Jenkins read it. One
 * test suite per file, one test case per per-pod Service (and per StatefulSet with findings);
 * errors are one `<failure>` per test case, warnings go to its `<system-out>`; unreadable
 * input is an `<error>` test case.
 */
export function renderJunit(report: CheckReport, problems: readonly InputProblem[]): string {
  const suites = new Map<string, string[]>();
  const counts = new Map<string, { tests: number; failures: number; errors: number }>();
  const suite = (
    file: string,
  ): { lines: string[]; count: { tests: number; failures: number; errors: number } } => {
    let lines = suites.get(file);
    let count = counts.get(file);
    if (!lines || !count) {
      lines = [];
      count = { tests: 0, failures: 0, errors: 0 };
      suites.set(file, lines);
      counts.set(file, count);
    }
    return { lines, count };
  };
  for (const object of report.checked) {
    const { lines, count } = suite(object.file);
    count.tests += 1;
    if (object.findings.some((f) => f.severity === "error")) count.failures += 1;
    lines.push(...renderTestCase(object));
  }
  for (const problem of problems.filter((p) => p.severity === "error")) {
    const { lines, count } = suite(problem.file);
    count.tests += 1;
    count.errors += 1;
    const at =
      problem.line === undefined
        ? problem.file
        : `${problem.file}:${problem.line}:${problem.column ?? 1}`;
    lines.push(
      `    <testcase classname="${escapeXmlAttribute(problem.file)}" name="${escapeXmlAttribute(`input ${at}`)}" file="${escapeXmlAttribute(problem.file)}"${problem.line === undefined ? "" : ` line="${problem.line}"`}>`,
      `      <error type="input" message="${escapeXmlAttribute(problem.message)}">${escapeXmlText(`${at}: ${problem.message}`)}</error>`,
      "    </testcase>",
    );
  }
  const total = { tests: 0, failures: 0, errors: 0 };
  const body: string[] = [];
  for (const [file, lines] of suites) {
    const count = counts.get(file) ?? total;
    total.tests += count.tests;
    total.failures += count.failures;
    total.errors += count.errors;
    body.push(
      `  <testsuite name="${escapeXmlAttribute(file)}" tests="${count.tests}" failures="${count.failures}" errors="${count.errors}" skipped="0">`,
      ...lines,
      "  </testsuite>",
    );
  }
  return toSafeXml(
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<testsuites name="stsguard" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}">`,
      ...body,
      "</testsuites>",
      "",
    ].join("\n"),
  );
}

function renderTestCase(object: CheckedObject): string[] {
  const name = `${object.kind} ${object.namespace}/${object.name}`;
  // audit: the class is the namespace/name; there is no file to point at.
  const where = isObjectPlace(object)
    ? ""
    : ` file="${escapeXmlAttribute(object.file)}" line="${object.line}"`;
  const open = `    <testcase classname="${escapeXmlAttribute(object.file)}" name="${escapeXmlAttribute(name)}"${where}>`;
  const errors = object.findings.filter((f) => f.severity === "error");
  const warnings = object.findings.filter((f) => f.severity === "warning");
  if (errors.length === 0 && warnings.length === 0) return [open.replace(/>$/, " />")];
  const lines = [open];
  const [first] = errors;
  if (first) {
    const message =
      errors.length === 1 ? formatLine(first) : `${errors.length} errors; ${formatLine(first)}`;
    lines.push(
      `      <failure type="${escapeXmlAttribute(first.rule)}" message="${escapeXmlAttribute(message)}">${escapeXmlText(errors.map(formatPlaced).join("\n"))}</failure>`,
    );
  }
  if (warnings.length > 0) {
    lines.push(
      `      <system-out>${escapeXmlText(
        warnings
          .map(formatPlaced)
          .map((w) => `warning ${w}`)
          .join("\n"),
      )}</system-out>`,
    );
  }
  lines.push("    </testcase>");
  return lines;
}

function formatLine(f: ReportFinding): string {
  return `${f.rule}: ${f.message}`;
}

function formatPlaced(f: ReportFinding): string {
  return `${formatPlace(f)} ${formatLine(f)}`;
}

// XML 1.0 allows only tab, LF, CR and printable characters; anything else cannot be escaped.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for an XML attribute value (line breaks kept as character references). */
export function escapeXmlAttribute(value: string): string {
  return escapeXmlText(value)
    .replace(/"/g, "&quot;")
    .replace(/\n/g, "&#10;")
    .replace(/\r/g, "&#13;");
}

/** Escapes text for an XML element body. */
export function escapeXmlText(value: string): string {
  return value
    .replace(INVALID_XML, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}
