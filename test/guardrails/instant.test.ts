import { describe, expect, it } from "vitest";
import { formatInstant, parseRfc3339 } from "../../src/guardrails/index.js";

describe("parseRfc3339", () => {
  const valid = [
    ["2026-12-31T23:59:59Z", "2026-12-31T23:59:59.000Z"],
    ["2026-12-31t23:59:59z", "2026-12-31T23:59:59.000Z"],
    ["2027-01-01T00:30:00+01:00", "2026-12-31T23:30:00.000Z"],
    ["2026-12-31T20:00:00-05:00", "2027-01-01T01:00:00.000Z"],
    ["2027-01-01T05:30:00+05:30", "2027-01-01T00:00:00.000Z"],
    ["2026-06-01T12:00:00-00:00", "2026-06-01T12:00:00.000Z"],
    ["2028-02-29T00:00:00Z", "2028-02-29T00:00:00.000Z"],
    ["2026-12-31T23:59:59.25Z", "2026-12-31T23:59:59.250Z"],
    // Below a millisecond rounds up: the instant has not passed at .000.
    ["2026-12-31T23:59:59.0001Z", "2026-12-31T23:59:59.001Z"],
  ];
  it.each(valid)("%s is %s", (text, iso) => {
    const parsed = parseRfc3339(text);
    expect(parsed).toEqual({ ok: true, epochMs: Date.parse(iso) });
  });

  const invalid = [
    ["2026-12-31", "not an RFC 3339 date-time"],
    ["2026-12-31T23:59:59", "not an RFC 3339 date-time"],
    ["2026-12-31 23:59:59Z", "not an RFC 3339 date-time"],
    ["2026-12-31T23:59Z", "not an RFC 3339 date-time"],
    ["2026-12-31T23:59:59+0100", "not an RFC 3339 date-time"],
    ["31/12/2026", "not an RFC 3339 date-time"],
    ["2026-13-01T00:00:00Z", "month 13 does not exist"],
    ["2026-02-29T00:00:00Z", "day 29 does not exist in 2026-02"],
    ["2026-04-31T00:00:00Z", "day 31 does not exist in 2026-04"],
    ["2026-12-31T24:00:00Z", "no such time of day"],
    ["2026-12-31T23:60:00Z", "no such time of day"],
    ["2026-12-31T23:59:60Z", "leap seconds are not supported"],
    ["2026-12-31T23:59:59+24:00", "no such offset"],
  ];
  it.each(invalid)("refuses %s", (text, problem) => {
    const parsed = parseRfc3339(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toContain(problem);
  });
});

describe("formatInstant", () => {
  it("writes UTC, with milliseconds only when there are some", () => {
    expect(formatInstant(Date.parse("2026-12-31T23:59:59Z"))).toBe("2026-12-31T23:59:59Z");
    expect(formatInstant(Date.parse("2026-12-31T23:59:59.5Z"))).toBe("2026-12-31T23:59:59.500Z");
  });
});
