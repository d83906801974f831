import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import Ajv04 from "ajv-draft-04";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { RULE_IDS } from "../../src/policy/types.js";
import { manifestsDir, repoRoot, runBuiltCli, type CliRun } from "./built-cli.js";
import { runInProcess } from "./in-process-cli.js";

interface JsonFinding {
  rule: string;
  severity: string;
  kind: string;
  namespace: string;
  name: string;
  file: string;
  line: number;
  column: number;
  message: string;
  fixable: boolean;
}

interface JsonReport {
  summary: { objects: number; perPodServices: number; errors: number; warnings: number };
  findings: JsonFinding[];
}

/** Every rule, with the position of the field at fault (1-based), over test/fixtures/manifests/rules. */
const EXPECTED_RULE_FINDINGS = [
  {
    name: "malformed-pod-name at the selector value",
    rule: "malformed-pod-name",
    severity: "error",
    kind: "Service",
    objectName: "web-malformed",
    file: "rules/a-services.yaml",
    line: 11,
    column: 41,
    fixable: false,
  },
  {
    name: "statefulset-not-found at the selector value",
    rule: "statefulset-not-found",
    severity: "warning",
    kind: "Service",
    objectName: "cache-0",
    file: "rules/a-services.yaml",
    line: 23,
    column: 41,
    fixable: false,
  },
  {
    name: "ordinal-out-of-range at the quoted selector value",
    rule: "ordinal-out-of-range",
    severity: "error",
    kind: "Service",
    objectName: "web-3",
    file: "rules/a-services.yaml",
    line: 34,
    column: 41,
    fixable: false,
  },
  {
    name: "external-traffic-policy at type when the policy is absent",
    rule: "external-traffic-policy",
    severity: "error",
    kind: "Service",
    objectName: "web-0",
    file: "rules/a-services.yaml",
    line: 45,
    column: 3,
    fixable: true,
  },
  {
    name: "external-traffic-policy at the policy when it says Cluster",
    rule: "external-traffic-policy",
    severity: "error",
    kind: "Service",
    objectName: "web-1",
    file: "rules/a-services.yaml",
    line: 58,
    column: 3,
    fixable: true,
  },
  {
    name: "missing-labels at metadata.labels",
    rule: "missing-labels",
    severity: "error",
    kind: "Service",
    objectName: "web-2",
    file: "rules/a-services.yaml",
    line: 66,
    column: 3,
    fixable: true,
  },
  {
    name: "selector-mismatch at the value in a flow selector",
    rule: "selector-mismatch",
    severity: "error",
    kind: "Service",
    objectName: "web-0-app",
    file: "rules/a-services.yaml",
    line: 78,
    column: 62,
    fixable: false,
  },
  {
    name: "ordinal-out-of-range inside a kind: List (ordinals.start honoured)",
    rule: "ordinal-out-of-range",
    severity: "error",
    kind: "Service",
    objectName: "db-0",
    file: "rules/list.yaml",
    line: 19,
    column: 45,
    fixable: false,
  },
  {
    name: "missing-labels at metadata in a JSON file without labels",
    rule: "missing-labels",
    severity: "error",
    kind: "Service",
    objectName: "db-2",
    file: "rules/services.json",
    line: 4,
    column: 3,
    fixable: true,
  },
  {
    name: "orphaned-service at the StatefulSet's replicas",
    rule: "orphaned-service",
    severity: "warning",
    kind: "StatefulSet",
    objectName: "web",
    file: "rules/z-statefulsets.yaml",
    line: 10,
    column: 3,
    fixable: false,
  },
  {
    name: "governing-service at the StatefulSet's serviceName (Service web is not headless)",
    rule: "governing-service",
    severity: "warning",
    kind: "StatefulSet",
    objectName: "web",
    file: "rules/z-statefulsets.yaml",
    line: 11,
    column: 3,
    fixable: false,
  },
  {
    name: "orphaned-service for a range starting at 1",
    rule: "orphaned-service",
    severity: "warning",
    kind: "StatefulSet",
    objectName: "db",
    file: "rules/z-statefulsets.yaml",
    line: 34,
    column: 3,
    fixable: false,
  },
  {
    name: "removed-api-version at the StatefulSet's apiVersion",
    rule: "removed-api-version",
    severity: "error",
    kind: "StatefulSet",
    objectName: "legacy",
    file: "rules/zz-legacy.yaml",
    line: 2,
    column: 1,
    fixable: true,
  },
];

const runs: Record<string, CliRun> = {};

beforeAll(async () => {
  const invocations: Record<string, { args: string[]; stdin?: string }> = {
    json: { args: ["check", "--output", "json", "rules"] },
    sarif: { args: ["check", "-o", "sarif", "rules"] },
    github: { args: ["check", "-o", "github", "rules", "odd"] },
    junit: { args: ["check", "-o", "junit", "rules"] },
    text: { args: ["check", "rules"] },
    stdin: {
      args: ["check", "-o", "json", "-", "rules/z-statefulsets.yaml"],
      stdin: readFileSync(path.join(manifestsDir, "rules/a-services.yaml"), "utf8"),
    },
    badInput: { args: ["check", "-o", "json", "bad-input", "no/such/dir"] },
    clean: { args: ["check", "clean"] },
    warningsOnly: { args: ["check", "-o", "json", "warnings-only"] },
    warningsStrict: { args: ["check", "--strict", "warnings-only"] },
    configured: {
      args: [
        "check",
        "-o",
        "json",
        "--config",
        "configured/stsguard.yaml",
        "--namespace",
        "prod",
        "configured/manifests.yaml",
      ],
    },
    oldKube: { args: ["check", "-o", "json", "--kube-version", "1.28", "external-ips"] },
    newKube: { args: ["check", "-o", "json", "external-ips"] },
    badFormat: { args: ["check", "-o", "yaml", "rules"] },
    noPaths: { args: ["check"] },
  };
  // The built CLI, as CI runs it, for the main cases; the other cases in process (each child
  // process is a Node start-up, and the machine has few cores).
  const childCases = new Set(["json", "sarif", "stdin", "badInput"]);
  const entries = Object.entries(invocations);
  await Promise.all(
    entries.map(async ([name, { args, stdin }]) => {
      const options = stdin === undefined ? {} : { stdin };
      runs[name] = childCases.has(name)
        ? await runBuiltCli(args, options)
        : await runInProcess(args, options);
    }),
  );
}, 120_000);

function readRun(name: string): CliRun {
  const result = runs[name];
  if (!result) throw new Error(`no run ${name}`);
  return result;
}

function parseJson(name: string): JsonReport {
  return JSON.parse(readRun(name).stdout) as JsonReport;
}

describe("stsguard check --output json over a directory tree", () => {
  it("exits 1 because there are errors, and prints only the unresolved governing Services on stderr", () => {
    expect(readRun("json").code).toBe(1);
    expect(readRun("json").stderr).toBe(
      "rules/z-statefulsets.yaml:32:9: warning: StatefulSet default/db: governing-service not " +
        "checked: Service default/db is not among the inputs; pass it too, or use --cluster\n" +
        "rules/zz-legacy.yaml:5:9: warning: StatefulSet default/legacy: governing-service not " +
        "checked: Service default/legacy is not among the inputs; pass it too, or use --cluster\n",
    );
  });

  it("counts objects, per-pod Services, errors and warnings (skipped and non-per-pod ones included)", () => {
    expect(parseJson("json").summary).toEqual({
      objects: 17,
      perPodServices: 10,
      errors: 9,
      warnings: 4,
    });
  });

  it("reports exactly the expected findings in file, line, column order", () => {
    expect(
      parseJson("json").findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.rule}`),
    ).toEqual(EXPECTED_RULE_FINDINGS.map((f) => `${f.file}:${f.line}:${f.column} ${f.rule}`));
  });

  it.each(EXPECTED_RULE_FINDINGS)("$name", (expected) => {
    const found = parseJson("json").findings.find(
      (f) => f.rule === expected.rule && f.name === expected.objectName,
    );
    expect(found).toEqual({
      rule: expected.rule,
      severity: expected.severity,
      kind: expected.kind,
      namespace: "default",
      name: expected.objectName,
      file: expected.file,
      line: expected.line,
      column: expected.column,
      message: expect.stringContaining(expected.objectName) as unknown,
      fixable: expected.fixable,
    });
    expect(Object.keys(found ?? {})).toEqual([
      "rule",
      "severity",
      "kind",
      "namespace",
      "name",
      "file",
      "line",
      "column",
      "message",
      "fixable",
    ]);
  });

  it("covers every rule the engine has", () => {
    expect(new Set(parseJson("json").findings.map((f) => f.rule))).toEqual(new Set(RULE_IDS));
  });
});

describe("stsguard check --output sarif", () => {
  const schema = JSON.parse(
    readFileSync(path.join(repoRoot, "test/fixtures/sarif/sarif-2.1.0-subset.schema.json"), "utf8"),
  ) as object;

  it("validates against the official SARIF 2.1.0 schema (OASIS, draft-04)", () => {
    const official = JSON.parse(
      readFileSync(
        path.join(repoRoot, "test/fixtures/sarif/sarif-2.1.0-rtm.5.schema.json"),
        "utf8",
      ),
    ) as object;
    const ajv = new Ajv04.default({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats.default(ajv);
    const validate = ajv.compile(official);
    const log: unknown = JSON.parse(readRun("sarif").stdout);
    expect(validate(log), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it("validates against the SARIF 2.1.0 (strict subset) schema", () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    const log: unknown = JSON.parse(readRun("sarif").stdout);
    expect(validate(log), JSON.stringify(validate.errors, null, 2)).toBe(true);
    expect(readRun("sarif").code).toBe(1);
  });

  it("describes every rule with a help link to its docs/rules.md anchor and its default level", () => {
    const log = JSON.parse(readRun("sarif").stdout);
    const rules = log.runs[0].tool.driver.rules as {
      id: string;
      helpUri: string;
      defaultConfiguration: { level: string };
    }[];
    expect(rules.map((r) => r.id)).toEqual([...RULE_IDS]);
    for (const rule of rules)
      expect(rule.helpUri).toMatch(new RegExp(`/docs/rules\\.md#${rule.id}$`));
    expect(rules.find((r) => r.id === "statefulset-not-found")?.defaultConfiguration.level).toBe(
      "warning",
    );
    expect(log.runs[0].tool.driver).toMatchObject({
      name: "stsguard",
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
  });

  it("places results with ruleIndex, level and a %SRCROOT%-relative location", () => {
    const log = JSON.parse(readRun("sarif").stdout);
    const rules = log.runs[0].tool.driver.rules as { id: string }[];
    const results = log.runs[0].results as {
      ruleId: string;
      ruleIndex: number;
      level: string;
      locations: {
        physicalLocation: {
          artifactLocation: { uri: string; uriBaseId: string };
          region: { startLine: number; startColumn: number };
        };
      }[];
    }[];
    expect(results).toHaveLength(EXPECTED_RULE_FINDINGS.length);
    const first = results[0]!;
    expect(rules[first.ruleIndex]?.id).toBe(first.ruleId);
    expect(first).toMatchObject({
      ruleId: "malformed-pod-name",
      level: "error",
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: "rules/a-services.yaml", uriBaseId: "%SRCROOT%" },
            region: { startLine: 11, startColumn: 41 },
          },
        },
      ],
    });
    expect(results.every((r) => rules[r.ruleIndex]?.id === r.ruleId)).toBe(true);
  });
});

describe("stsguard check --output github", () => {
  it("prints one workflow command per finding with file, line, col and the rule as title", () => {
    const lines = readRun("github").stdout.split("\n");
    expect(lines).toContain(
      "::error file=rules/a-services.yaml,line=34,col=41,title=ordinal-out-of-range::Service default/web-3 selects pod web-3, but StatefulSet web has 3 replicas (ordinals 0-2); scale it up or select an existing ordinal",
    );
    // Four warning findings and the unresolved governing Services of db and legacy.
    expect(lines.filter((l) => l.startsWith("::warning ")).length).toBe(6);
    // The warnings on StatefulSets are counted where they are, not in the per-pod Services.
    expect(lines.at(-2)).toBe(
      "stsguard: 10 errors, 4 warnings in 11 per-pod Services and 3 StatefulSets",
    );
  });

  it("escapes , : and % in properties and % in messages, as the workflow-commands spec says", () => {
    const line = readRun("github")
      .stdout.split("\n")
      .find((l) => l.includes("odd%2Cname"));
    expect(line).toBe(
      '::error file=odd/odd%2Cname%3A100%25.yaml,line=4,col=55,title=malformed-pod-name::Service default/pct selects pod "web-%250", which is not "<statefulset>-<ordinal>" with a plain decimal ordinal, so it matches no StatefulSet pod; fix the statefulset.kubernetes.io/pod-name selector',
    );
  });
});

describe("stsguard check --output junit", () => {
  it("writes one test case per per-pod Service, failures for errors only, XML-escaped", () => {
    const xml = readRun("junit").stdout;
    expect(
      xml.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="stsguard" tests="13" failures="9" errors="0">',
      ),
    ).toBe(true);
    const cases = [...xml.matchAll(/<testcase classname="([^"]*)" name="([^"]*)"/g)].map(
      (m) => m[2],
    );
    expect(cases.filter((c) => c?.startsWith("Service "))).toHaveLength(10);
    expect(xml).toContain(
      '<testcase classname="rules/a-services.yaml" name="Service default/cache-0" file="rules/a-services.yaml" line="16">',
    );
    expect(xml).toMatch(
      /<testcase classname="rules\/nested\/deeper\/good.yml" name="Service default\/db-1" file="[^"]+" line="4" \/>/,
    );
    expect(xml).toContain(
      '<failure type="malformed-pod-name" message="malformed-pod-name: Service default/web-malformed selects pod &quot;web-01&quot;, which is not &quot;&lt;statefulset&gt;-&lt;ordinal&gt;&quot;',
    );
    expect(countTags(xml, "failure")).toBe(9);
    expect(isBalanced(xml)).toBe(true);
  });
});

describe("stsguard check --output text", () => {
  it("groups findings by file without colour when stdout is not a terminal, then a summary", () => {
    const { stdout, code } = readRun("text");
    expect(code).toBe(1);
    expect(stdout).not.toContain("\u001b[");
    expect(stdout).toContain("rules/a-services.yaml\n  11:41  error    malformed-pod-name ");
    expect(stdout.trimEnd().split("\n").at(-1)).toBe(
      "9 errors, 4 warnings in 10 per-pod Services and 3 StatefulSets in 17 objects; 5 fixable with `stsguard fix`.",
    );
  });
});

describe("stsguard check reading standard input", () => {
  it("reads - as a file named <stdin> and resolves StatefulSets from the other inputs", () => {
    const report = parseJson("stdin");
    expect(readRun("stdin").code).toBe(1);
    const positions = report.findings
      .filter((f) => f.file === "<stdin>")
      .map((f) => `${f.line}:${f.column} ${f.rule}`);
    expect(positions).toEqual([
      "11:41 malformed-pod-name",
      "23:41 statefulset-not-found",
      "34:41 ordinal-out-of-range",
      "45:3 external-traffic-policy",
      "58:3 external-traffic-policy",
      "66:3 missing-labels",
      "78:62 selector-mismatch",
    ]);
  });
});

describe("stsguard check with bad input", () => {
  it("exits 2, names each problem with file:line:column, and still checks every other file", () => {
    const { code, stderr } = readRun("badInput");
    expect(code).toBe(2);
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toEqual([
      "no/such/dir: error: cannot read no/such/dir: no such file or directory",
      "bad-input/broken.yaml:6:13: error: invalid YAML: Nested mappings are not allowed in compact mappings",
      "bad-input/scalar.yaml:1:1: warning: document 1 is a scalar, not a Kubernetes object; skipped",
      "bad-input/scalar.yaml:3:1: warning: document 2 is a list, not a Kubernetes object; skipped",
      "bad-input/duplicates.yaml:12:9: error: duplicate Service default/web-0: also defined at bad-input/duplicates.yaml:4:9",
    ]);
    const report = parseJson("badInput");
    expect(report.findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.rule}`)).toEqual([
      "bad-input/broken.yaml:18:41 statefulset-not-found",
      "bad-input/duplicates.yaml:3:1 missing-labels",
      "bad-input/duplicates.yaml:7:41 statefulset-not-found",
      "bad-input/duplicates.yaml:16:41 statefulset-not-found",
      "bad-input/valid.yaml:7:3 external-traffic-policy",
      "bad-input/valid.yaml:8:50 statefulset-not-found",
    ]);
  });
});

describe("stsguard check exit codes", () => {
  const rows = [
    { name: "0 when every per-pod Service is right", run: "clean", code: 0 },
    { name: "0 with warnings only", run: "warningsOnly", code: 0 },
    { name: "1 with warnings only under --strict", run: "warningsStrict", code: 1 },
    { name: "2 for an unknown --output", run: "badFormat", code: 2 },
    { name: "2 without paths", run: "noPaths", code: 2 },
  ];
  it.each(rows)("$name", (row) => {
    expect(readRun(row.run).code).toBe(row.code);
  });

  it("says there is nothing to report for a clean tree", () => {
    expect(readRun("clean").stdout).toBe(
      "No problems: 2 per-pod Services and 1 StatefulSet in 3 objects checked.\n",
    );
  });

  it("shows the choices for a bad --output", () => {
    expect(readRun("badFormat").stderr).toContain(
      "Allowed choices are text, json, sarif, github, junit",
    );
  });
});

describe("stsguard check --config, --namespace and --kube-version", () => {
  it("applies the webhook's configuration file: severities, label prefix, extra labels", () => {
    const report = parseJson("configured");
    expect(readRun("configured").code).toBe(1);
    expect(
      report.findings.map((f) => [f.rule, f.severity, f.namespace, f.name, f.line, f.column]),
    ).toEqual([
      ["missing-labels", "error", "prod", "web-0", 5, 3],
      ["external-traffic-policy", "warning", "prod", "web-0", 11, 3],
      ["missing-labels", "error", "default", "other-0", 15, 1],
    ]);
    expect(report.findings[0]?.message).toContain(
      "example.com/statefulset=web, example.com/ordinal=0, tier=db, team=data",
    );
  });

  it("does not ask for Local on ClusterIP with externalIPs before Kubernetes 1.29", () => {
    expect(parseJson("oldKube").findings).toEqual([]);
    expect(readRun("oldKube").code).toBe(0);
  });

  it("asks for Local on ClusterIP with externalIPs on the newest Kubernetes, pointing at externalIPs", () => {
    expect(parseJson("newKube").findings.map((f) => `${f.line}:${f.column} ${f.rule}`)).toEqual([
      "10:3 external-traffic-policy",
    ]);
  });
});

function countTags(xml: string, tag: string): number {
  return [...xml.matchAll(new RegExp(`<${tag}[ >]`, "g"))].length;
}

/** Every opened element is closed in order: enough to catch broken XML from this renderer. */
function isBalanced(xml: string): boolean {
  const stack: string[] = [];
  for (const match of xml.replace(/<\?xml[^>]*\?>/, "").matchAll(/<(\/?)([a-z-]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing) continue;
    if (closing) {
      if (stack.pop() !== name) return false;
    } else {
      stack.push(name ?? "");
    }
  }
  return stack.length === 0 && !/&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)/.test(xml);
}
