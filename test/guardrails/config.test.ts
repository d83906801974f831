import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { ConfigError } from "../../src/errors.js";

const FILE = "stsguard.yaml";

const ISSUE_EXAMPLE = `
mode: enforce
namespaces:
  - names: [team-a, "legacy-*"]
    mode: warn
  - selector:
      matchLabels: {tier: sandbox}
    mode: monitor
namespaceModeLabel: false
exemptions:
  - name: kafka-migration
    reason: "PLAT-123, approved by the platform team"
    expires: "2026-12-31T23:59:59Z"
    namespaces: [kafka]
    namespaceSelector: {matchLabels: {team: data}}
    services: ["broker-*"]
    statefulSets: [broker]
    users: ["system:serviceaccount:ci:deployer"]
    groups: [data-admins]
    rules: [external-traffic-policy]
`;

describe("guardrail settings", () => {
  it("reads the example of the documentation", () => {
    expect(parseConfig(ISSUE_EXAMPLE, FILE).guardrails).toEqual({
      mode: "enforce",
      namespaces: [
        { names: ["team-a", "legacy-*"], selector: null, mode: "warn" },
        {
          names: null,
          selector: { matchLabels: { tier: "sandbox" }, matchExpressions: [] },
          mode: "monitor",
        },
      ],
      namespaceModeLabel: false,
      exemptions: [
        {
          name: "kafka-migration",
          reason: "PLAT-123, approved by the platform team",
          expires: "2026-12-31T23:59:59Z",
          expiresAt: Date.parse("2026-12-31T23:59:59Z"),
          namespaces: ["kafka"],
          namespaceSelector: { matchLabels: { team: "data" }, matchExpressions: [] },
          services: ["broker-*"],
          statefulSets: ["broker"],
          users: ["system:serviceaccount:ci:deployer"],
          groups: ["data-admins"],
          rules: ["external-traffic-policy"],
        },
      ],
    });
  });

  it("reads an unquoted expires (YAML 1.2 keeps it a string) with its offset", () => {
    const config = parseConfig(
      "exemptions: [{name: a, reason: r, namespaces: [x], expires: 2027-01-01T00:30:00+01:00}]",
      FILE,
    );
    expect(config.guardrails.exemptions[0]?.expiresAt).toBe(Date.parse("2026-12-31T23:30:00Z"));
  });

  const errors = [
    ["mode: strict", "stsguard.yaml: mode: must be one of enforce, warn, monitor, off"],
    ["mode: true", "stsguard.yaml: mode: must be one of"],
    ["namespaces: {a: warn}", "stsguard.yaml: namespaces: must be a list"],
    ["namespaces: [{mode: warn}]", "stsguard.yaml: namespaces[0]: give names, selector or both"],
    ["namespaces: [{names: [a]}]", "stsguard.yaml: namespaces[0].mode: required"],
    ["namespaces: [{names: [a], mode: loud}]", "stsguard.yaml: namespaces[0].mode: must be one of"],
    ["namespaces: [{names: [], mode: warn}]", "stsguard.yaml: namespaces[0].names: an empty list"],
    [
      "namespaces: [{name: [a], mode: warn}]",
      "stsguard.yaml: namespaces[0]: name: unknown setting",
    ],
    [
      "namespaces: [{selector: {matchLabel: {a: b}}, mode: warn}]",
      "stsguard.yaml: namespaces[0].selector: matchLabel: unknown setting",
    ],
    [
      "namespaces: [{selector: {matchLabels: {tier: 1}}, mode: warn}]",
      "stsguard.yaml: namespaces[0].selector.matchLabels.tier: 1 is not a valid label value",
    ],
    [
      "namespaces: [{selector: {matchExpressions: [{key: a, operator: In}]}, mode: warn}]",
      "stsguard.yaml: namespaces[0].selector.matchExpressions[0].values: required for operator In",
    ],
    [
      "namespaces: [{selector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}, mode: warn}]",
      "stsguard.yaml: namespaces[0].selector.matchExpressions[0].values: must be left out",
    ],
    [
      "namespaces: [{selector: {matchExpressions: [{key: a, operator: Equals, values: [x]}]}, mode: warn}]",
      "stsguard.yaml: namespaces[0].selector.matchExpressions[0].operator: must be one of",
    ],
    [
      "namespaceModeLabel: yes",
      'stsguard.yaml: namespaceModeLabel: must be true or false, not "yes"',
    ],
    ["exemptions: [{reason: r, namespaces: [a]}]", "stsguard.yaml: exemptions[0].name: required"],
    ["exemptions: [{name: a, namespaces: [a]}]", "stsguard.yaml: exemptions[0].reason: required"],
    [
      "exemptions: [{name: a, reason: '  ', namespaces: [a]}]",
      "stsguard.yaml: exemptions[0].reason: required",
    ],
    ["exemptions: [{name: a, reason: r}]", "stsguard.yaml: exemptions[0]: say what it exempts"],
    [
      "exemptions: [{name: 'a b', reason: r, namespaces: [a]}]",
      'stsguard.yaml: exemptions[0].name: "a b" must be',
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [a]}, {name: a, reason: s, namespaces: [b]}]",
      'stsguard.yaml: exemptions[1].name: "a" is already used',
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [a], expires: '2026-12-31'}]",
      'stsguard.yaml: exemptions[0].expires: "2026-12-31" is not an RFC 3339 date-time',
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [a], expires: '2026-12-31T23:59:59'}]",
      'stsguard.yaml: exemptions[0].expires: "2026-12-31T23:59:59" is not an RFC 3339 date-time with an offset',
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [a], expires: '2026-02-30T00:00:00Z'}]",
      'stsguard.yaml: exemptions[0].expires: "2026-02-30T00:00:00Z": day 30 does not exist',
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [a], expires: 1767225599}]",
      "stsguard.yaml: exemptions[0].expires: must be a quoted RFC 3339 date-time",
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [a], rules: [no-such-rule]}]",
      'stsguard.yaml: exemptions[0].rules[0]: unknown rule id "no-such-rule"',
    ],
    [
      "exemptions: [{name: a, reason: r, users: [alice], groups: []}]",
      "stsguard.yaml: exemptions[0].groups: an empty list",
    ],
    [
      "exemptions: [{name: a, reason: r, services: [1]}]",
      "stsguard.yaml: exemptions[0].services[0]: must be a non-empty string",
    ],
    [
      "exemptions: [{name: a, reason: r, namespace: [x]}]",
      "stsguard.yaml: exemptions[0]: namespace: unknown setting",
    ],
  ];

  it.each(errors)("refuses %s", (text, message) => {
    expect(() => parseConfig(text, FILE)).toThrow(ConfigError);
    expect(() => parseConfig(text, FILE)).toThrow(message);
  });
});
