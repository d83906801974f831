import { describe, expect, it } from "vitest";
import { toWarningText, toWarnings } from "../../src/admission/warnings.js";

describe("warnings for the API server's Warning header", () => {
  const rows = [
    {
      name: "keeps a short single-line text",
      input: "orphaned-service: x",
      output: "orphaned-service: x",
    },
    { name: "turns newlines and tabs into spaces", input: "a\nb\r\n\tc", output: "a b c" },
    { name: "drops DEL and C1 controls", input: "a\u007fb\u0085c", output: "a b c" },
    { name: "replaces a lone surrogate (invalid UTF-8)", input: "a\ud800b", output: "a b" },
    { name: "keeps a surrogate pair", input: "ok 😀", output: "ok 😀" },
  ];
  it.each(rows)("$name", ({ input, output }) => {
    expect(toWarningText(input)).toBe(output);
  });

  it("cuts a long text to 256 characters, counted in code points", () => {
    const text = toWarningText(`rule: ${"😀".repeat(400)}`);
    expect(Array.from(text)).toHaveLength(256);
    expect(text.endsWith("…")).toBe(true);
  });

  it("deduplicates and drops empty texts", () => {
    expect(toWarnings(["a", "a", "\n", "b"])).toEqual(["a", "b"]);
  });

  it("stays within 4096 characters and says how many were left out", () => {
    const texts = Array.from({ length: 30 }, (_, i) => `rule-${i}: ${"x".repeat(240)}`);
    const warnings = toWarnings(texts);
    const total = warnings.reduce((sum, w) => sum + Array.from(w).length, 0);
    expect(total).toBeLessThanOrEqual(4096);
    const shown = warnings.length - 1;
    expect(warnings.at(-1)).toBe(`stsguard: ${30 - shown} more warnings not shown`);
    expect(warnings.slice(0, shown)).toEqual(texts.slice(0, shown));
  });

  it("keeps every warning when they fit", () => {
    const texts = Array.from({ length: 16 }, (_, i) => `rule-${i}: ${"x".repeat(240)}`);
    expect(toWarnings(texts)).toEqual(texts);
  });
});
