import { describe, expect, it } from "vitest";
import { parsePodTarget, toPodName, type PodTarget } from "../../src/policy/index.js";

const name61 = "a".repeat(61);
const name62 = "a".repeat(62);

interface Row {
  readonly name: string;
  readonly value: unknown;
  readonly expected: PodTarget | null;
}

const rows: readonly Row[] = [
  { name: "web-0", value: "web-0", expected: { statefulSet: "web", ordinal: 0 } },
  { name: "web-12", value: "web-12", expected: { statefulSet: "web", ordinal: 12 } },
  {
    name: "redis-2-0 belongs to StatefulSet redis-2 (name is everything before the last dash)",
    value: "redis-2-0",
    expected: { statefulSet: "redis-2", ordinal: 0 },
  },
  {
    name: "a StatefulSet name made of digits (0-0)",
    value: "0-0",
    expected: { statefulSet: "0", ordinal: 0 },
  },
  {
    name: "a-b-c-10 splits at the last dash",
    value: "a-b-c-10",
    expected: { statefulSet: "a-b-c", ordinal: 10 },
  },
  {
    name: "ordinal 2147483647 (int32 max) is accepted",
    value: "web-2147483647",
    expected: { statefulSet: "web", ordinal: 2147483647 },
  },
  { name: "ordinal 2147483648 (past int32) is rejected", value: "web-2147483648", expected: null },
  {
    name: "a 63-character pod name is accepted",
    value: `${name61}-0`,
    expected: { statefulSet: name61, ordinal: 0 },
  },
  { name: "a 64-character pod name is rejected", value: `${name62}-0`, expected: null },
  { name: "leading zero web-01 is malformed", value: "web-01", expected: null },
  { name: "web-00 is malformed", value: "web-00", expected: null },
  { name: "web- has no ordinal", value: "web-", expected: null },
  { name: "-0 has no StatefulSet name", value: "-0", expected: null },
  { name: "web has no dash", value: "web", expected: null },
  { name: "Web-0 is not a DNS label", value: "Web-0", expected: null },
  { name: "web-0x has a non-decimal ordinal", value: "web-0x", expected: null },
  { name: "web--1 (negative ordinal or name ending in a dash)", value: "web--1", expected: null },
  { name: "web-+1 has a sign", value: "web-+1", expected: null },
  { name: "web-1e3 is not a plain decimal", value: "web-1e3", expected: null },
  { name: "web-1.0 is not an integer", value: "web-1.0", expected: null },
  { name: "web.x-0 has a dot in the name", value: "web.x-0", expected: null },
  { name: "a trailing newline is rejected", value: "web-0\n", expected: null },
  { name: "surrounding spaces are rejected", value: " web-0", expected: null },
  { name: "non-ASCII letters are rejected", value: "wéb-0", expected: null },
  { name: "the empty string", value: "", expected: null },
  { name: "a number", value: 0, expected: null },
  { name: "null", value: null, expected: null },
  { name: "undefined", value: undefined, expected: null },
  { name: "a list holding a valid name", value: ["web-0"], expected: null },
  { name: "a map", value: { name: "web-0" }, expected: null },
  { name: "a boolean", value: true, expected: null },
];

describe("parsePodTarget", () => {
  it.each(rows)("$name", ({ value, expected }) => {
    expect(parsePodTarget(value)).toEqual(expected);
  });

  it.each(rows.filter((row) => row.expected !== null))(
    "round-trips $name through toPodName",
    ({ value, expected }) => {
      expect(toPodName(expected as PodTarget)).toBe(value);
    },
  );
});
