import { describe, expect, it } from "vitest";
import { findExcessNesting, MAX_NESTING_DEPTH } from "../../src/admission/json-depth.js";

const scan = (text: string, limit: number): number =>
  findExcessNesting(Buffer.from(text, "utf8"), limit);

describe("findExcessNesting", () => {
  it.each([
    { name: "a flat object", text: '{"a":1}', limit: 1, expected: -1 },
    { name: "two levels under a limit of one", text: '{"a":[1]}', limit: 1, expected: 5 },
    { name: "siblings do not add up", text: "[[],[],{},{}]", limit: 2, expected: -1 },
    { name: "brackets inside strings", text: '{"a":"[[[{{{"}', limit: 1, expected: -1 },
    { name: "an escaped quote keeps the string open", text: '["\\"[[["]', limit: 1, expected: -1 },
    {
      name: "an escaped backslash ends before the quote",
      text: '["\\\\",[[1]]]',
      limit: 2,
      expected: 7,
    },
    { name: "multi-byte characters", text: '{"é😀":["[" ]}', limit: 2, expected: -1 },
    { name: "not JSON at all", text: "", limit: 0, expected: -1 },
  ])("$name", ({ text, limit, expected }) => {
    expect(scan(text, limit)).toBe(expected);
  });

  it("allows the recorded depth with a wide margin, and stops at the first excess", () => {
    const deep = (levels: number): string => "[".repeat(levels) + "]".repeat(levels);
    expect(scan(deep(MAX_NESTING_DEPTH), MAX_NESTING_DEPTH)).toBe(-1);
    expect(scan(deep(MAX_NESTING_DEPTH + 1), MAX_NESTING_DEPTH)).toBe(MAX_NESTING_DEPTH);
    expect(scan(deep(1_000_000), MAX_NESTING_DEPTH)).toBe(MAX_NESTING_DEPTH);
  });
});
