import { describe, expect, it } from "vitest";
import { toSafeJson, toSafeLines, toSafeText, toSafeXml } from "../../src/cli/reports/safe-text.js";

describe("toSafeText", () => {
  it.each([
    { name: "plain text unchanged", input: "manifests/web-0.yaml", output: "manifests/web-0.yaml" },
    { name: "newline, CR and tab", input: "a\nb\rc\td", output: "a\\nb\\rc\\td" },
    { name: "ESC of a CSI sequence", input: "\u001b[31mred", output: "\\x1b[31mred" },
    { name: "OSC with BEL", input: "\u001b]0;title\u0007", output: "\\x1b]0;title\\x07" },
    { name: "NUL and DEL", input: "a\u0000b\u007f", output: "a\\x00b\\x7f" },
    { name: "a C1 CSI", input: "\u009b31m", output: "\\x9b31m" },
    { name: "a bidi override", input: "\u202egnp.yaml", output: "\\u202egnp.yaml" },
    { name: "bidi isolates", input: "\u2066x\u2069", output: "\\u2066x\\u2069" },
    { name: "a line separator", input: "a\u2028b", output: "a\\u2028b" },
    { name: "a legacy command anywhere", input: "x ##[error]y", output: "x ##\\[error]y" },
    { name: "a workflow command at the start", input: "::error::x", output: "\\x3a:error::x" },
    { name: "after blanks too", input: "  ::error::x", output: "  \\x3a:error::x" },
    { name: "but not in the middle", input: "a ::error::x", output: "a ::error::x" },
    { name: "unicode letters unchanged", input: "größe-ü", output: "größe-ü" },
  ])("$name", ({ input, output }) => {
    expect(toSafeText(input)).toBe(output);
  });
});

describe("toSafeLines", () => {
  it("keeps line breaks and the CR of CRLF lines, and escapes each line", () => {
    expect(toSafeLines("a\r\n::b\r\n##[c]\n")).toBe("a\r\n\\x3a:b\r\n##\\[c]\n");
  });
});

describe("toSafeJson", () => {
  it("escapes what JSON.stringify leaves raw, and parses back to the same value", () => {
    const value = { name: "x\u009b\u202e##[y]\u2028", list: [1] };
    const safe = toSafeJson(JSON.stringify(value, null, 2));
    expect(safe).not.toMatch(/[\u0080-\u009f\u202e\u2028]|##\[/);
    expect(JSON.parse(safe)).toEqual(value);
  });
});

describe("toSafeXml", () => {
  it("uses character references, keeps the document's own line breaks", () => {
    expect(toSafeXml('<a b="x\u202e">\n::c ##[d]\u009b\u000b</a>\n')).toBe(
      '<a b="x&#x202e;">\n&#58;:c ##&#91;d]&#x009b;\uFFFD</a>\n',
    );
  });
});
