import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import type { CheckReport } from "../../src/report/model.js";
import { escapeData, escapeProperty } from "../../src/cli/reports/github.js";
import { escapeXmlAttribute, renderJunit } from "../../src/cli/reports/junit.js";
import { runCli } from "../../src/cli/run.js";
import { manifestsDir } from "./built-cli.js";

describe("GitHub workflow command escaping", () => {
  const rows = [
    {
      name: "percent first, so escapes are not escaped twice",
      value: "100%",
      data: "100%25",
      property: "100%25",
    },
    { name: "line breaks", value: "a\r\nb", data: "a%0D%0Ab", property: "a%0D%0Ab" },
    {
      name: "colon and comma only in properties",
      value: "a:b,c",
      data: "a:b,c",
      property: "a%3Ab%2Cc",
    },
  ];
  it.each(rows)("escapes $name", ({ value, data, property }) => {
    expect(escapeData(value)).toBe(data);
    expect(escapeProperty(value)).toBe(property);
  });
});

describe("JUnit XML", () => {
  it("escapes markup and replaces characters XML cannot carry", () => {
    expect(escapeXmlAttribute(`<a href="x">&'\u0001\n`)).toBe(
      "&lt;a href=&quot;x&quot;&gt;&amp;'\uFFFD&#10;",
    );
  });

  it("reports unreadable input as an <error> test case", () => {
    const report: CheckReport = {
      summary: { objects: 0, perPodServices: 0, statefulSets: 0, errors: 0, warnings: 0 },
      findings: [],
      checked: [],
      problems: [],
    };
    const out = renderJunit(report, [
      { file: "a&b.yaml", line: 3, column: 4, severity: "error", message: "invalid YAML: <bad>" },
      { file: "c.yaml", severity: "warning", message: "skipped" },
    ]);
    expect(out).toContain(
      '<testsuite name="a&amp;b.yaml" tests="1" failures="0" errors="1" skipped="0">',
    );
    expect(out).toContain(
      '<error type="input" message="invalid YAML: &lt;bad&gt;">a&amp;b.yaml:3:4: invalid YAML: &lt;bad&gt;</error>',
    );
    expect(out).not.toContain("c.yaml");
  });
});

describe("text output colours", () => {
  const rows = [
    { name: "colours on a terminal", isTTY: true, env: {}, colour: true },
    {
      name: "no colours when NO_COLOR is set, even on a terminal",
      isTTY: true,
      env: { NO_COLOR: "1" },
      colour: false,
    },
    { name: "no colours into a pipe", isTTY: false, env: {}, colour: false },
  ];
  it.each(rows)("$name", async ({ isTTY, env, colour }) => {
    const out: string[] = [];
    const code = await runCli(["check", "rules"], {
      stdout: { write: (s: string) => out.push(s), isTTY },
      stderr: { write: () => true },
      stdin: Readable.from([]),
      cwd: manifestsDir,
      env,
    });
    expect(code).toBe(1);
    expect(out.join("").includes("\u001b[31merror")).toBe(colour);
  });
});
