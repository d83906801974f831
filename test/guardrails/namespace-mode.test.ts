import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { matchesGlob, namespaceMode } from "../../src/guardrails/index.js";

const CONFIG = parseConfig(
  `
mode: enforce
namespaces:
  - names: [team-a, "legacy-*"]
    mode: warn
  - selector:
      matchLabels: {tier: sandbox}
    mode: monitor
  - names: ["scratch-?"]
    selector: {matchExpressions: [{key: owner, operator: Exists}]}
    mode: "off"
  - names: [team-a]
    mode: monitor
`,
  "stsguard.yaml",
);

describe("namespaceMode", () => {
  const rows = [
    {
      name: "no rule matches: the default",
      ns: "payments",
      labels: {},
      mode: "enforce",
      source: "mode",
    },
    { name: "by name", ns: "team-a", labels: {}, mode: "warn", source: "namespaces[0]" },
    { name: "by glob", ns: "legacy-billing", labels: {}, mode: "warn", source: "namespaces[0]" },
    {
      name: "glob needs its prefix",
      ns: "billing-legacy",
      labels: {},
      mode: "enforce",
      source: "mode",
    },
    {
      name: "by selector",
      ns: "play",
      labels: { tier: "sandbox" },
      mode: "monitor",
      source: "namespaces[1]",
    },
    {
      name: "first match wins",
      ns: "team-a",
      labels: { tier: "sandbox" },
      mode: "warn",
      source: "namespaces[0]",
    },
    {
      name: "names and selector: both",
      ns: "scratch-1",
      labels: { owner: "x" },
      mode: "off",
      source: "namespaces[2]",
    },
    {
      name: "names and selector: name only",
      ns: "scratch-1",
      labels: {},
      mode: "enforce",
      source: "mode",
    },
    {
      name: "? is one character",
      ns: "scratch-12",
      labels: { owner: "x" },
      mode: "enforce",
      source: "mode",
    },
  ] as const;

  it.each(rows)("$name", ({ ns, labels, mode, source }) => {
    expect(namespaceMode(ns, labels, CONFIG)).toEqual({ mode, source, unevaluatedRules: [] });
  });

  it("with unknown labels, takes the strictest mode a label rule might give, and says which", () => {
    // Rule 1 (monitor) might match; the default is stricter.
    expect(namespaceMode("play", null, CONFIG)).toEqual({
      mode: "enforce",
      source: "mode",
      unevaluatedRules: ["namespaces[1]"],
    });
    // A name rule still decides without labels.
    expect(namespaceMode("team-a", null, CONFIG).mode).toBe("warn");
    const lenientDefault = parseConfig(
      `
mode: monitor
namespaces:
  - selector: {matchLabels: {env: prod}}
    mode: enforce
  - names: ["team-*"]
    mode: warn
`,
      "stsguard.yaml",
    );
    // Never more lenient than it could be: the prod rule might match.
    expect(namespaceMode("team-x", null, lenientDefault)).toEqual({
      mode: "enforce",
      source: "namespaces[0] (labels unknown: the strictest rule that might match)",
      unevaluatedRules: ["namespaces[0]"],
    });
    expect(namespaceMode("team-x", {}, lenientDefault).mode).toBe("warn");
    expect(namespaceMode("team-x", { env: "prod" }, lenientDefault).mode).toBe("enforce");
  });

  describe("the <prefix>/mode label", () => {
    const withLabel = parseConfig(
      `
mode: warn
namespaceModeLabel: true
labels: {prefix: acme.example}
namespaces: [{names: [strict], mode: enforce}]
`,
      "stsguard.yaml",
    );
    const rows2 = [
      { name: "lowers warn to monitor", ns: "a", value: "monitor", mode: "monitor" },
      { name: "lowers warn to off", ns: "a", value: "off", mode: "off" },
      { name: "never raises warn to enforce", ns: "a", value: "enforce", mode: "warn" },
      { name: "lowers a rule's enforce to warn", ns: "strict", value: "warn", mode: "warn" },
      { name: "ignores a value that is no mode", ns: "a", value: "disabled", mode: "warn" },
    ];
    it.each(rows2)("$name", ({ ns, value, mode }) => {
      expect(namespaceMode(ns, { "acme.example/mode": value }, withLabel).mode).toBe(mode);
    });

    it("is ignored unless namespaceModeLabel is true", () => {
      const without = parseConfig("mode: warn\nlabels: {prefix: acme.example}", "stsguard.yaml");
      expect(namespaceMode("a", { "acme.example/mode": "off" }, without).mode).toBe("warn");
    });

    it("names the label as the source", () => {
      expect(namespaceMode("a", { "acme.example/mode": "off" }, withLabel).source).toBe(
        "label acme.example/mode",
      );
    });
  });
});

describe("matchesGlob", () => {
  const rows = [
    ["*", "", true],
    ["*", "anything", true],
    ["team-*", "team-", true],
    ["team-*", "team-a", true],
    ["team-*", "steam-a", false],
    ["*-prod", "a-b-prod", true],
    ["*-prod", "a-prod-x", false],
    ["a*b*c", "aXXbYYc", true],
    ["a*b*c", "aXXcYYb", false],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["a.c", "abc", false],
    ["exact", "exact", true],
    ["exact", "exactly", false],
  ] as const;
  it.each(rows)("%s ~ %s → %s", (pattern, name, want) => {
    expect(matchesGlob(pattern, name)).toBe(want);
  });
});
