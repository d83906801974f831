// Issue 20, item 7: names and values taken from input cannot turn into terminal escapes or CI
// log commands in any output. The built CLI as a child process over a temporary tree whose file
// names and YAML values carry newlines, `::error` and `##[` commands, ESC/CSI/OSC sequences,
// BEL, C1 controls and bidi overrides.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, runBuiltCli, type CliRun } from "./built-cli.js";

/** YAML double-quoted escapes: the parsed value holds the raw characters. */
const HOSTILE_VALUE =
  "web-9\\n::error file=.github/workflows/ci.yml,line=1::pwned" +
  "\\e[2J\\e]0;owned\\a\\x9b31m\\u202egnp.yaml ##[set-output name=ok;]forged";

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web-9
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector:
    statefulset.kubernetes.io/pod-name: "${HOSTILE_VALUE}"
`;

// A file name with a newline and a workflow command in it (Linux allows both).
const HOSTILE_FILE = "svc\n::warning file=x::forged.yaml";
// One whose name is a workflow command from its first character, in the current directory.
const COMMAND_FILE = "::error file=y::also-forged.yaml";

/** Every character a terminal acts on, or that reorders text (tab and newline aside). */
const UNSAFE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

function expectNoCommands(output: string, allowed: RegExp = /^$/): void {
  for (const line of output.split("\n")) {
    const start = line.replace(/\r$/, "").trimStart();
    if (allowed.test(start)) continue;
    expect(
      start.startsWith("::"),
      `a line starts a workflow command: ${JSON.stringify(line)}`,
    ).toBe(false);
  }
  expect(output).not.toContain("##[");
}

let work: { dir: string; remove: () => Promise<void> };
const runs: Record<string, CliRun> = {};

beforeAll(async () => {
  work = await makeTempDir();
  await mkdir(path.join(work.dir, "m"));
  await writeFile(path.join(work.dir, "m", "hostile.yaml"), SERVICE);
  await writeFile(path.join(work.dir, "m", HOSTILE_FILE), "kind: [\n");
  await writeFile(path.join(work.dir, COMMAND_FILE), "kind: [\n");
  for (const format of ["text", "github", "json", "sarif", "junit"]) {
    runs[format] = await runBuiltCli(["check", "m", COMMAND_FILE, "-o", format], { cwd: work.dir });
  }
});

afterAll(async () => {
  await work.remove();
});

describe("check output from hostile input", () => {
  it.each(["text", "github", "json", "sarif", "junit"])(
    "%s: exits 2 (a file does not parse) and prints no control character, bidi override or log command",
    (format) => {
      const run = runs[format];
      expect(run?.code).toBe(2);
      for (const output of [run?.stdout ?? "", run?.stderr ?? ""]) {
        expect(output).not.toMatch(UNSAFE);
        // github: the findings themselves are workflow commands, stsguard's own.
        expectNoCommands(output, format === "github" ? /^::(error|warning) (file|title)=/ : /^$/);
      }
    },
  );

  it("text: shows what was escaped, visibly, on the finding's own line", () => {
    const text = runs["text"]?.stdout ?? "";
    // The engine quotes the value as JSON, which escapes C0 controls; C1 controls, the bidi
    // override and the legacy command are escaped for printing.
    expect(text).toContain(
      '"web-9\\n::error file=.github/workflows/ci.yml,line=1::pwned\\u001b[2J\\u001b]0;owned\\u0007\\x9b31m\\u202egnp.yaml ##\\[set-output name=ok;]forged"',
    );
    const stderr = runs["text"]?.stderr ?? "";
    expect(stderr).toContain("m/svc\\n::warning file=x::forged.yaml:2:1: error: invalid YAML");
    expect(stderr).toContain("\\x3a:error file=y::also-forged.yaml:2:1: error: invalid YAML");
  });

  it("github: one annotation per finding, with the file name's newline and commas escaped", () => {
    const lines = (runs["github"]?.stdout ?? "").trimEnd().split("\n");
    const annotations = lines.filter((line) => line.startsWith("::"));
    expect(annotations.every((line) => /^::(error|warning) (file|title)=/.test(line))).toBe(true);
    expect(
      annotations.some((line) =>
        line.includes("file=m/svc\\n%3A%3Awarning file=x%3A%3Aforged.yaml"),
      ),
    ).toBe(true);
    expect(lines.at(-1)).toMatch(/^stsguard: \d+ errors?, \d+ warnings? in \d+ per-pod Services?$/);
  });

  it("json and sarif: escaped with JSON's own escapes, so the values parse back exactly", () => {
    const json = JSON.parse(runs["json"]?.stdout ?? "null") as {
      findings: { message: string }[];
    };
    // The message quotes the value as JSON.stringify writes it (C0 escaped, the rest raw).
    const raw = JSON.stringify(
      "web-9\n::error file=.github/workflows/ci.yml,line=1::pwned\u001b[2J\u001b]0;owned\u0007\u009b31m\u202egnp.yaml ##[set-output name=ok;]forged",
    );
    expect(json.findings.some((f) => f.message.includes(raw))).toBe(true);
    const sarif = JSON.parse(runs["sarif"]?.stdout ?? "null") as {
      runs: { results: { message: { text: string } }[] }[];
    };
    expect(sarif.runs[0]?.results.some((r) => r.message.text.includes(raw))).toBe(true);
  });

  it("junit: character references, which an XML reader decodes back", () => {
    const xml = runs["junit"]?.stdout ?? "";
    expect(xml).toContain("##&#91;set-output");
    expect(xml).toContain("&#x202e;gnp.yaml");
  });
});

describe("fix --diff from hostile input", () => {
  it("escapes the file's own lines around a fix", async () => {
    const dir = path.join(work.dir, "diff");
    await mkdir(dir);
    await writeFile(
      path.join(dir, "svc.yaml"),
      `apiVersion: v1
kind: Service
metadata:
  name: web-0
# ##[set-output name=ok;]forged \u001b]0;title\u0007
spec:
  type: LoadBalancer
  selector:
    statefulset.kubernetes.io/pod-name: web-0
`,
    );
    const result = await runBuiltCli(["fix", "--diff", "."], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("+  externalTrafficPolicy: Local");
    expect(result.stdout).toContain(" # ##\\[set-output name=ok;]forged \\x1b]0;title\\x07");
    expect(result.stdout).not.toMatch(UNSAFE);
    expectNoCommands(result.stdout);
  });
});
