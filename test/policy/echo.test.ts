import { describe, expect, it } from "vitest";
import {
  MAX_ECHOED_CHARS,
  TRUNCATED_MARKER,
  describeValue,
  truncateText,
} from "../../src/policy/echo.js";

describe("truncateText", () => {
  it.each([
    { name: "a short text", text: "web-0", expected: "web-0" },
    { name: "exactly the limit", text: "a".repeat(8), max: 8, expected: "a".repeat(8) },
    {
      name: "one over the limit",
      text: "a".repeat(9),
      max: 8,
      expected: `aaaaaaaa${TRUNCATED_MARKER}`,
    },
    {
      name: "a surrogate pair at the cut, kept whole or dropped whole",
      text: `aaaaaaa\u{1F600}b`,
      max: 8,
      expected: `aaaaaaa${TRUNCATED_MARKER}`,
    },
  ])("$name", ({ text, max, expected }) => {
    expect(truncateText(text, max)).toBe(expected);
  });

  it("cuts 1.4 MB to the default limit", () => {
    expect(truncateText("x".repeat(1_400_000))).toHaveLength(
      MAX_ECHOED_CHARS + TRUNCATED_MARKER.length,
    );
  });
});

describe("describeValue", () => {
  it.each([
    { value: "web-0", expected: '"web-0"' },
    { value: 'a"b', expected: '"a\\"b"' },
    { value: 7, expected: "7" },
    { value: null, expected: "null" },
    { value: true, expected: "true" },
    { value: undefined, expected: "nothing" },
    { value: [1, 2], expected: "a list of 2" },
    { value: { a: 1 }, expected: "an object" },
  ])("$value reads $expected", ({ value, expected }) => {
    expect(describeValue(value)).toBe(expected);
  });

  it("never serialises a deep value", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    expect(describeValue(deep)).toBe("a list of 1");
  });
});
