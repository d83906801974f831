/**
 * docs/rules.md cannot rot: every ```yaml fails / ```yaml passes example in it is checked on
 * its own with `stsguard check -` (in process, through runCli). A "fails" example must raise the rule of its section; a "passes" example must
 * raise nothing at all.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run.js";
import { RULE_IDS } from "../../src/policy/types.js";
import { repoRoot } from "./built-cli.js";

interface Example {
  readonly name: string;
  readonly rule: string;
  readonly expect: "fails" | "passes";
  readonly manifest: string;
}

function extractExamples(markdown: string): Example[] {
  const examples: Example[] = [];
  let rule = "";
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const heading = /^## (.+)$/.exec(line);
    if (heading?.[1]) rule = heading[1];
    // ```yaml fails, or ```yaml fails <rule> outside that rule's own section.
    const fence = /^```yaml (fails|passes)(?: (\S+))?$/.exec(line);
    if (!fence?.[1]) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] ?? "");
    const kind = fence[1] as "fails" | "passes";
    const exampleRule = fence[2] ?? rule;
    examples.push({
      name: `${rule}: the "${kind}" example ${kind === "fails" ? `raises ${exampleRule}` : "raises nothing"}`,
      rule: exampleRule,
      expect: kind,
      manifest: `${body.join("\n")}\n`,
    });
  }
  return examples;
}

const examples = extractExamples(readFileSync(path.join(repoRoot, "docs/rules.md"), "utf8"));

/** Checks one manifest on its own through the CLI's entry point, reading it from stdin. */
async function checkAlone(manifest: string): Promise<{ code: number; rules: string[] }> {
  const out: string[] = [];
  const code = await runCli(["check", "--output", "json", "-"], {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: () => true },
    stdin: Readable.from([manifest]),
    cwd: repoRoot,
    env: {},
  });
  const report = JSON.parse(out.join("")) as { findings: { rule: string }[] };
  return { code, rules: report.findings.map((f) => f.rule) };
}

describe("docs/rules.md", () => {
  it("has a failing and a passing example for every rule, and none for anything else", () => {
    for (const rule of RULE_IDS) {
      expect(
        [...new Set(examples.filter((e) => e.rule === rule).map((e) => e.expect))].sort(),
        rule,
      ).toEqual(["fails", "passes"]);
    }
    expect(examples.filter((e) => !(RULE_IDS as readonly string[]).includes(e.rule))).toEqual([]);
  });

  it.each(examples)("$name", async (example) => {
    const { code, rules } = await checkAlone(example.manifest);
    if (example.expect === "fails") {
      expect(rules).toContain(example.rule);
    } else {
      expect(rules).toEqual([]);
      expect(code).toBe(0);
    }
  });
});
