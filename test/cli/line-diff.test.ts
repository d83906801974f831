import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createUnifiedDiff } from "../../src/cli/line-diff.js";
import { repoRoot } from "./built-cli.js";

const names = { oldName: "a/f", newName: "b/f" };
const makeLines = (n: number, from = 1): string =>
  Array.from({ length: n }, (_, i) => `line ${i + from}\n`).join("");

describe("createUnifiedDiff", () => {
  const rows = [
    { name: "is empty for equal texts", before: "a\nb\n", after: "a\nb\n", diff: "" },
    {
      name: "shows a changed line with up to three lines of context",
      before: makeLines(10),
      after: makeLines(10).replace("line 5\n", "line five\n"),
      diff: "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n",
    },
    {
      name: "adds lines at the end",
      before: "a\nb\n",
      after: "a\nb\nc\n",
      diff: "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n b\n+c\n",
    },
    {
      name: "numbers an insertion into an empty file from line 0",
      before: "",
      after: "x\n",
      diff: "--- a/f\n+++ b/f\n@@ -0,0 +1,1 @@\n+x\n",
    },
    {
      name: "marks a last line without a newline",
      before: "a\nb",
      after: "a\nb\n",
      diff: "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
    },
    {
      name: "splits changes far apart into two hunks",
      before: makeLines(20),
      after: makeLines(20).replace("line 2\n", "LINE 2\n").replace("line 18\n", "LINE 18\n"),
      diff:
        "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n+LINE 2\n line 3\n line 4\n line 5\n" +
        "@@ -15,6 +15,6 @@\n line 15\n line 16\n line 17\n-line 18\n+LINE 18\n line 19\n line 20\n",
    },
    {
      name: "joins changes closer than six lines into one hunk",
      before: makeLines(12),
      after: makeLines(12).replace("line 3\n", "LINE 3\n").replace("line 8\n", "LINE 8\n"),
      diff: "--- a/f\n+++ b/f\n@@ -1,11 +1,11 @@\n line 1\n line 2\n-line 3\n+LINE 3\n line 4\n line 5\n line 6\n line 7\n-line 8\n+LINE 8\n line 9\n line 10\n line 11\n",
    },
    {
      name: "numbers a removal of the only line to line 0",
      before: "x\n",
      after: "",
      diff: "--- a/f\n+++ b/f\n@@ -1,1 +0,0 @@\n-x\n",
    },
    {
      name: "keeps CRLF line endings in the lines it shows",
      before: "a\r\nb\r\n",
      after: "a\r\nc\r\n",
      diff: "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n",
    },
  ];
  it.each(rows)("$name", ({ before, after, diff }) => {
    expect(createUnifiedDiff(before, after, names)).toBe(diff);
  });
});

describe("createUnifiedDiff over random texts", () => {
  // Deterministic pseudo-random texts: the diff must turn a into b when applied, and change no
  // more lines than a shortest edit script does (everything else is kept as context).
  const createRandom =
    (seed: number): (() => number) =>
    () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
  const cases = Array.from({ length: 25 }, (_, i) => {
    const next = createRandom(i + 1);
    const make = (): string[] =>
      Array.from({ length: Math.floor(next() * 30) }, () => "abcde"[Math.floor(next() * 5)] ?? "a");
    return { name: `random case ${i}`, a: make(), b: make() };
  });
  const toText = (lines: readonly string[]): string => lines.map((line) => `${line}\n`).join("");

  it.each(cases)("turns a into b, minimally, for $name", ({ a, b }) => {
    const diff = createUnifiedDiff(toText(a), toText(b), names);
    if (toText(a) === toText(b)) {
      expect(diff).toBe("");
      return;
    }
    expect(applyUnifiedDiff(a, diff)).toEqual(b);
    const body = diff.split("\n").slice(2);
    const common = longestCommonSubsequence(a, b);
    expect(body.filter((line) => line.startsWith("-")).length).toBe(a.length - common);
    expect(body.filter((line) => line.startsWith("+")).length).toBe(b.length - common);
  });
});

describe("line-diff", () => {
  it("is the diff (jsdiff) package, not an algorithm of our own", () => {
    const source = readFileSync(path.join(repoRoot, "src/cli/line-diff.ts"), "utf8");
    expect(source).toMatch(/from "diff";/);
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies).toHaveProperty("diff");
  });
});

/** Applies a unified diff of whole lines (no "\\ No newline" markers) to `lines`, checking context. */
function applyUnifiedDiff(lines: readonly string[], diff: string): string[] {
  const result: string[] = [];
  let consumed = 0;
  const body = diff.trimEnd().split("\n").slice(2);
  for (let i = 0; i < body.length;) {
    const header = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(body[i] ?? "");
    if (!header) throw new Error(`not a hunk header: ${body[i] ?? ""}`);
    const oldCount = Number(header[2] ?? "1");
    // An empty old range names the line before the insertion.
    const oldStart = Number(header[1]) - (oldCount === 0 ? 0 : 1);
    result.push(...lines.slice(consumed, oldStart));
    consumed = oldStart;
    for (i++; i < body.length && !(body[i] ?? "").startsWith("@@"); i++) {
      const line = body[i] ?? "";
      const text = line.slice(1);
      if (line.startsWith("+")) {
        result.push(text);
        continue;
      }
      if (lines[consumed] !== text) throw new Error(`context mismatch at line ${consumed + 1}`);
      consumed++;
      if (line.startsWith(" ")) result.push(text);
    }
  }
  return [...result, ...lines.slice(consumed)];
}

function longestCommonSubsequence(a: readonly string[], b: readonly string[]): number {
  const table = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      table[i]![j] =
        a[i - 1] === b[j - 1]
          ? table[i - 1]![j - 1]! + 1
          : Math.max(table[i - 1]![j]!, table[i]![j - 1]!);
    }
  }
  return table[a.length]![b.length]!;
}
