import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  findExcessNesting,
  MAX_NESTING_DEPTH,
  nestsDeeperThan,
} from "../../src/admission/json-depth.js";

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

describe("nestsDeeperThan (the parsed body, for bodies small enough to parse first)", () => {
  it("agrees with the byte scan on any JSON value and limit", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 9 }), (value, limit) => {
        const text = JSON.stringify(value);
        expect(nestsDeeperThan(JSON.parse(text), limit)).toBe(scan(text, limit) !== -1);
      }),
      { numRuns: 2_000 },
    );
  });

  it("answers for a million levels without running out of stack", () => {
    const deep = (levels: number): string => "[".repeat(levels) + "]".repeat(levels);
    expect(nestsDeeperThan(JSON.parse(deep(MAX_NESTING_DEPTH)))).toBe(false);
    expect(nestsDeeperThan(JSON.parse(deep(MAX_NESTING_DEPTH + 1)))).toBe(true);
    expect(nestsDeeperThan(JSON.parse(deep(1_000_000)))).toBe(true);
    const objects = (levels: number): string => '{"a":'.repeat(levels) + "1" + "}".repeat(levels);
    expect(nestsDeeperThan(JSON.parse(objects(MAX_NESTING_DEPTH)))).toBe(false);
    expect(nestsDeeperThan(JSON.parse(objects(MAX_NESTING_DEPTH + 1)))).toBe(true);
  });

  it("counts a primitive as no nesting at all", () => {
    expect(nestsDeeperThan("[[[", 0)).toBe(false);
    expect(nestsDeeperThan(null, 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
  });
});
