import { createHash } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { InputProblem } from "../../manifests/read.js";
import { STDIN_NAME } from "../../manifests/read.js";
import type { PolicyConfig, RuleId, Severity } from "../../policy/types.js";
import { isObjectPlace, type CheckReport, type ReportFinding } from "../../report/model.js";
import { RULE_DOCS } from "../rule-docs.js";
import { PROJECT_URL, RULES_DOC_URL, type ToolInfo } from "../tool-info.js";
import { toSafeJson } from "./safe-text.js";

export interface SarifOptions {
  readonly tool: ToolInfo;
  readonly policy: PolicyConfig;
  /** The directory relative file names start from: `%SRCROOT%`. */
  readonly cwd: string;
}

const SRCROOT = "%SRCROOT%";

/**
 * `--output sarif`: a SARIF 2.1.0 log with one run, as GitHub code scanning
 * (github/codeql-action/upload-sarif) accepts it: every rule described in tool.driver.rules,
 * each result with ruleId, ruleIndex, level, message and a physical location relative to
 * `%SRCROOT%`. Input problems become tool execution notifications.
 */
export function renderSarif(
  report: CheckReport,
  problems: readonly InputProblem[],
  options: SarifOptions,
): string {
  const ruleIndex = new Map<RuleId, number>(RULE_DOCS.map((r, i) => [r.id, i]));
  const log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: options.tool.name,
            version: options.tool.version,
            semanticVersion: options.tool.version,
            informationUri: PROJECT_URL,
            rules: RULE_DOCS.map((rule) => ({
              id: rule.id,
              name: toPascalCase(rule.id),
              shortDescription: { text: rule.short },
              fullDescription: { text: rule.full },
              help: {
                text: `${rule.help} See ${RULES_DOC_URL}#${rule.id}`,
                markdown: `${rule.help}\n\n[${rule.id} in docs/rules.md](${RULES_DOC_URL}#${rule.id})`,
              },
              helpUri: `${RULES_DOC_URL}#${rule.id}`,
              defaultConfiguration: {
                level: toLevel(options.policy.severities[rule.id]),
                enabled: options.policy.severities[rule.id] !== "off",
              },
              properties: { tags: ["kubernetes", "statefulset", "service"] },
            })),
          },
        },
        originalUriBaseIds: {
          [SRCROOT]: { uri: pathToFileURL(withTrailingSlash(options.cwd)).href },
        },
        invocations: [
          {
            executionSuccessful: !problems.some((p) => p.severity === "error"),
            toolExecutionNotifications: problems.map((p) => ({
              level: p.severity,
              message: { text: p.message },
              locations: [toLocation(p.file, p.line ?? 1, p.column ?? 1, options.cwd)],
            })),
          },
        ],
        columnKind: "utf16CodeUnits",
        results: report.findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: ruleIndex.get(f.rule) ?? -1,
          level: f.severity,
          message: { text: f.message },
          locations: [
            isObjectPlace(f)
              ? toObjectLocation(f)
              : toLocation(f.file, f.line, f.column, options.cwd),
          ],
          partialFingerprints: { "stsguard/v1": computeFingerprint(f) },
          properties: { kind: f.kind, namespace: f.namespace, name: f.name, fixable: f.fixable },
        })),
      },
    ],
  };
  return `${toSafeJson(JSON.stringify(log, null, 2))}\n`;
}

function toLevel(severity: Severity): "error" | "warning" | "none" {
  return severity === "off" ? "none" : severity;
}

function toLocation(
  file: string,
  line: number,
  column: number,
  cwd: string,
): { physicalLocation: unknown } {
  const region = { startLine: line, startColumn: column };
  if (file === STDIN_NAME) {
    return { physicalLocation: { artifactLocation: { uri: "stdin" }, region } };
  }
  const absolute = path.resolve(cwd, file);
  const relative = path.relative(cwd, absolute);
  const artifactLocation =
    relative && !relative.startsWith("..") && !path.isAbsolute(relative)
      ? { uri: toRelativeUri(relative), uriBaseId: SRCROOT }
      : { uri: pathToFileURL(absolute).href };
  return { physicalLocation: { artifactLocation, region } };
}

/** audit: the object in the cluster, as a SARIF logical location. */
function toObjectLocation(f: ReportFinding): { logicalLocations: unknown[] } {
  return {
    logicalLocations: [
      {
        name: f.name,
        fullyQualifiedName: `${f.namespace}/${f.kind}/${f.name}`,
        kind: "resource",
      },
    ],
  };
}

function toRelativeUri(relative: string): string {
  return relative.split(path.sep).map(encodeURIComponent).join("/");
}

function withTrailingSlash(dir: string): string {
  return dir.endsWith(path.sep) ? dir : `${dir}${path.sep}`;
}

/** The same finding on the same object keeps its fingerprint when lines move. */
function computeFingerprint(f: ReportFinding): string {
  return createHash("sha256")
    .update([f.rule, f.kind, f.namespace, f.name].join("\u0000"))
    .digest("hex")
    .slice(0, 32);
}

function toPascalCase(id: string): string {
  return id
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}
