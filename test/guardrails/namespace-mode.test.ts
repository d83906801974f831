import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { matchesGlob, namespaceMode } from "../../src/guardrails/index.js";

const CONFIG = parseConfig(
  `
mode: enforce
labelsMayLowerIn: [play, scratch-1]
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

  describe("outside labelsMayLowerIn, labels raise the mode but never lower it", () => {
    const ignored = (rule: string, byName: string): string =>
      `${byName} (${rule} not taken: labels may not lower the mode of a namespace outside labelsMayLowerIn)`;
    const rows3 = [
      {
        name: "a lenient selector rule is not taken",
        ns: "payments",
        labels: { tier: "sandbox" },
        mode: "enforce",
        source: ignored("namespaces[1]", "mode"),
      },
      {
        name: "nor one that also names the namespace",
        ns: "scratch-2",
        labels: { owner: "x" },
        mode: "enforce",
        source: ignored("namespaces[2]", "mode"),
      },
      {
        name: "a name rule still lowers: the platform team wrote it",
        ns: "legacy-billing",
        labels: { tier: "sandbox" },
        mode: "warn",
        source: "namespaces[0]",
      },
    ] as const;
    it.each(rows3)("$name", ({ ns, labels, mode, source }) => {
      expect(namespaceMode(ns, labels, CONFIG)).toEqual({ mode, source, unevaluatedRules: [] });
    });

    const raising = parseConfig(
      `
mode: warn
namespaces:
  - selector: {matchLabels: {env: prod}}
    mode: enforce
  - selector: {matchLabels: {tier: sandbox}}
    mode: monitor
  - names: ["team-*"]
    mode: monitor
`,
      "stsguard.yaml",
    );
    it("takes a stricter selector rule: a label that adds enforcement is harmless", () => {
      expect(namespaceMode("web", { env: "prod" }, raising)).toEqual({
        mode: "enforce",
        source: "namespaces[0]",
        unevaluatedRules: [],
      });
      expect(namespaceMode("team-a", { env: "prod" }, raising).mode).toBe("enforce");
    });

    it("takes a selector rule down to what the name gives, no further", () => {
      // team-a is monitor by name: the sandbox label (monitor) lowers nothing below that.
      expect(namespaceMode("team-a", { tier: "sandbox" }, raising)).toEqual({
        mode: "monitor",
        source: "namespaces[1]",
        unevaluatedRules: [],
      });
      // web is warn by default: the sandbox label would lower it.
      expect(namespaceMode("web", { tier: "sandbox" }, raising)).toEqual({
        mode: "warn",
        source: ignored("namespaces[1]", "mode"),
        unevaluatedRules: [],
      });
    });

    it("lowers in a namespace of labelsMayLowerIn, by glob", () => {
      const allowed = parseConfig(
        "mode: warn\nlabelsMayLowerIn: ['sandbox-*']\nnamespaces: [{selector: {matchLabels: {tier: sandbox}}, mode: monitor}]",
        "stsguard.yaml",
      );
      expect(namespaceMode("sandbox-1", { tier: "sandbox" }, allowed).mode).toBe("monitor");
      expect(namespaceMode("web", { tier: "sandbox" }, allowed).mode).toBe("warn");
    });
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
labelsMayLowerIn: [a, strict]
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
      const without = parseConfig(
        "mode: warn\nlabelsMayLowerIn: [a]\nlabels: {prefix: acme.example}",
        "stsguard.yaml",
      );
      expect(namespaceMode("a", { "acme.example/mode": "off" }, without).mode).toBe("warn");
    });

    it("is ignored in a namespace outside labelsMayLowerIn", () => {
      expect(namespaceMode("b", { "acme.example/mode": "off" }, withLabel)).toEqual({
        mode: "warn",
        source: "mode",
        unevaluatedRules: [],
      });
    });

    it("is ignored where the labels are unknown", () => {
      expect(namespaceMode("a", null, withLabel).mode).toBe("warn");
    });

    it("names the label as the source", () => {
      expect(namespaceMode("a", { "acme.example/mode": "off" }, withLabel).source).toBe(
        "label acme.example/mode",
      );
    });
  });
});

describe("the opt-out label", () => {
  const withOptOut = parseConfig(
    `
mode: enforce
labelsMayLowerIn: ["sandbox-*", legacy-kafka]
optOutLabel: {key: stsguard.io/admission, value: disabled}
namespaces: [{names: ["team-*"], mode: warn}]
`,
    "stsguard.yaml",
  );
  const OPTED_OUT = { "stsguard.io/admission": "disabled" };

  it("turns the mode off in a namespace of labelsMayLowerIn", () => {
    expect(namespaceMode("legacy-kafka", OPTED_OUT, withOptOut)).toEqual({
      mode: "off",
      source: "label stsguard.io/admission=disabled",
      unevaluatedRules: [],
    });
    expect(namespaceMode("sandbox-7", OPTED_OUT, withOptOut).mode).toBe("off");
  });

  it("does nothing in any other namespace, whoever set it", () => {
    expect(namespaceMode("payments", OPTED_OUT, withOptOut)).toEqual({
      mode: "enforce",
      source: "mode",
      unevaluatedRules: [],
    });
    expect(namespaceMode("team-a", OPTED_OUT, withOptOut).mode).toBe("warn");
  });

  it("needs the configured value", () => {
    expect(namespaceMode("legacy-kafka", { "stsguard.io/admission": "off" }, withOptOut).mode).toBe(
      "enforce",
    );
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
