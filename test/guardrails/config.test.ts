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
      labelsMayLowerIn: [],
      optOutLabel: null,
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
    [
      "exemptions: [{name: a, reason: r}]",
      "stsguard.yaml: exemptions[0] (a): scope it with namespaces, or with users or groups",
    ],
    [
      "exemptions: [{name: kafka, reason: r, statefulSets: [kafka]}]",
      "stsguard.yaml: exemptions[0] (kafka): scope it with namespaces, or with users or groups: services, statefulSets and namespaceSelector match names and labels that whoever creates the object can choose",
    ],
    [
      "exemptions: [{name: a, reason: r, services: [broker-5], namespaceSelector: {matchLabels: {team: data}}}]",
      "stsguard.yaml: exemptions[0] (a): scope it with namespaces, or with users or groups",
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: ['*'], services: [broker-5]}]",
      "stsguard.yaml: exemptions[0] (a): scope it with namespaces",
    ],
    [
      "exemptions: [{name: a, reason: r, namespaces: [kafka, '?*'], services: [broker-5]}]",
      "stsguard.yaml: exemptions[0] (a): scope it with namespaces",
    ],
    [
      "exemptions: [{name: a, reason: r, users: ['*'], statefulSets: [kafka]}]",
      "stsguard.yaml: exemptions[0] (a): scope it with namespaces",
    ],
    [
      "exemptions: [{name: a, reason: r, groups: ['system:authenticated'], statefulSets: [kafka]}]",
      'stsguard.yaml: exemptions[0] (a): scope it with namespaces, or with users or groups: services, statefulSets and namespaceSelector match names and labels that whoever creates the object can choose, and "*" (or the group system:authenticated) matches everyone',
    ],
    [
      "exemptions: [{name: ok, reason: r, namespaces: [a]}, {name: b, reason: r, groups: ['system:*']}]",
      "stsguard.yaml: exemptions[1] (b): scope it with namespaces",
    ],
    [
      "optOutLabel: {key: stsguard.io/admission, value: disabled}",
      "stsguard.yaml: optOutLabel: the opt-out label applies only in the namespaces labelsMayLowerIn lists (names or globs), and labelsMayLowerIn is not set: list the namespaces whose owners may lower their own enforcement, or remove optOutLabel",
    ],
    [
      "namespaceModeLabel: true",
      "stsguard.yaml: namespaceModeLabel: the mode label applies only in the namespaces labelsMayLowerIn lists",
    ],
    [
      "labelsMayLowerIn: []\nnamespaceModeLabel: true",
      "stsguard.yaml: namespaceModeLabel: the mode label applies only in the namespaces labelsMayLowerIn lists",
    ],
    ["labelsMayLowerIn: ['']", "stsguard.yaml: labelsMayLowerIn[0]: must be a non-empty string"],
    ["labelsMayLowerIn: sandbox", "stsguard.yaml: labelsMayLowerIn: must be a list of strings"],
    [
      "labelsMayLowerIn: [a]\noptOutLabel: stsguard.io/admission=disabled",
      "stsguard.yaml: optOutLabel: must be a mapping {key, value}",
    ],
    [
      "labelsMayLowerIn: [a]\noptOutLabel: {key: 'bad key', value: disabled}",
      'stsguard.yaml: optOutLabel.key: "bad key" is not a valid label key',
    ],
    [
      "labelsMayLowerIn: [a]\noptOutLabel: {key: stsguard.io/admission}",
      "stsguard.yaml: optOutLabel.value: undefined is not a non-empty label value",
    ],
    [
      "labelsMayLowerIn: [a]\noptOutLabel: {key: stsguard.io/admission, value: false}",
      "stsguard.yaml: optOutLabel.value: false is not a non-empty label value (quote numbers and booleans)",
    ],
    [
      "labelsMayLowerIn: [a]\noptOutLabel: {key: a, value: b, values: [c]}",
      "stsguard.yaml: optOutLabel: values: unknown setting",
    ],
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

  const scoped = [
    ["by a namespace glob", "namespaces: ['team-*'], statefulSets: [kafka]"],
    ["by a user", "users: ['system:serviceaccount:ci:deployer'], services: [broker-5]"],
    ["by a group", "groups: [data-admins]"],
    ["by a catch-all group and a namespace", "namespaces: [kafka], groups: ['*']"],
  ];
  it.each(scoped)("accepts an exemption scoped %s", (_, criteria) => {
    const config = parseConfig(`exemptions: [{name: a, reason: r, ${criteria}}]`, FILE);
    expect(config.guardrails.exemptions).toHaveLength(1);
  });

  it("reads where namespace labels may lower enforcement, and the opt-out label", () => {
    const config = parseConfig(
      `
labelsMayLowerIn: [sandbox-*, legacy-kafka]
optOutLabel: {key: stsguard.io/admission, value: disabled}
namespaceModeLabel: true
`,
      FILE,
    );
    expect(config.guardrails).toMatchObject({
      labelsMayLowerIn: ["sandbox-*", "legacy-kafka"],
      optOutLabel: { key: "stsguard.io/admission", value: "disabled" },
      namespaceModeLabel: true,
    });
  });
});
