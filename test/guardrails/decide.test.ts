import { describe, expect, it } from "vitest";
import { parseConfig, type StsguardConfig } from "../../src/config/config.js";
import {
  decide,
  type GuardrailSubject,
  type Mode,
  type RequestUser,
} from "../../src/guardrails/index.js";
import type { Finding, RuleId } from "../../src/policy/index.js";

const NOW = new Date("2026-12-01T12:00:00Z");

function finding(rule: RuleId, severity: "error" | "warning", fixable = false): Finding {
  return { rule, severity, message: `${rule} message`, fixable, path: ["spec"] };
}

const ERROR = finding("ordinal-out-of-range", "error");
const WARNING = finding("statefulset-not-found", "warning");
const FIXABLE = finding("external-traffic-policy", "error", true);

function config(yaml: string): StsguardConfig {
  return parseConfig(yaml, "stsguard.yaml");
}

function subject(overrides: Partial<GuardrailSubject> = {}): GuardrailSubject {
  return {
    kind: "Service",
    namespace: "kafka",
    name: "broker-3",
    statefulSet: "broker",
    namespaceLabels: { team: "data", "kubernetes.io/metadata.name": "kafka" },
    user: { username: "alice", groups: ["system:authenticated", "data-admins"] },
    ...overrides,
  };
}

describe("decide: every mode × outcome", () => {
  const outcomes = [
    { outcome: "allowed", findings: [] },
    { outcome: "warned", findings: [WARNING] },
    { outcome: "denied", findings: [ERROR, WARNING] },
    { outcome: "patched", findings: [FIXABLE] },
  ] as const;
  // What each mode does with each outcome: deny?, warnings returned to the client, fixes applied.
  const expected: Record<Mode, Record<string, { deny: boolean; shown: number; fixes: boolean }>> = {
    enforce: {
      allowed: { deny: false, shown: 0, fixes: true },
      warned: { deny: false, shown: 1, fixes: true },
      denied: { deny: true, shown: 1, fixes: true },
      patched: { deny: true, shown: 0, fixes: true },
    },
    warn: {
      allowed: { deny: false, shown: 0, fixes: true },
      warned: { deny: false, shown: 1, fixes: true },
      denied: { deny: false, shown: 2, fixes: true },
      patched: { deny: false, shown: 1, fixes: true },
    },
    monitor: {
      allowed: { deny: false, shown: 0, fixes: false },
      warned: { deny: false, shown: 0, fixes: false },
      denied: { deny: false, shown: 0, fixes: false },
      patched: { deny: false, shown: 0, fixes: false },
    },
    off: {
      allowed: { deny: false, shown: 0, fixes: false },
      warned: { deny: false, shown: 0, fixes: false },
      denied: { deny: false, shown: 0, fixes: false },
      patched: { deny: false, shown: 0, fixes: false },
    },
  };
  const rows = (Object.keys(expected) as Mode[]).flatMap((mode) =>
    outcomes.map(({ outcome, findings }) => ({
      name: `${mode} / ${outcome}`,
      mode,
      outcome,
      findings,
      want: expected[mode][outcome]!,
    })),
  );

  it.each(rows)("$name", ({ mode, findings, want, outcome }) => {
    const decision = decide(findings, subject(), config(`mode: ${mode}`), NOW);
    expect(decision.mode).toBe(mode);
    expect(decision.deny).toBe(want.deny);
    const shown = decision.showWarnings
      ? decision.reported.filter((f) => f.severity === "warning")
      : [];
    expect(shown).toHaveLength(want.shown);
    expect(decision.applyFixes).toBe(want.fixes);
    // The outcome is what enforce would do: what monitor logs as "would have".
    expect(decision.outcome).toBe(outcome === "patched" ? "denied" : outcome);
  });

  it("warn reports every error as a warning that says it would have been denied", () => {
    const decision = decide([ERROR], subject(), config("mode: warn"), NOW);
    expect(decision.reported).toEqual([
      {
        ...ERROR,
        severity: "warning",
        message:
          "would have been denied (namespace kafka is in warn mode): ordinal-out-of-range message",
      },
    ]);
    // The findings themselves keep their severity, for logs and metrics.
    expect(decision.findings).toEqual([ERROR]);
  });

  it("monitor shows nothing, but keeps what enforce would have done for logs and metrics", () => {
    const decision = decide([ERROR], subject(), config("mode: monitor"), NOW);
    expect(decision.reported).toEqual([]);
    expect(decision.showWarnings).toBe(false);
    expect(decision.findings).toEqual([ERROR]);
    expect(decision.outcome).toBe("denied");
  });

  it("off reports nothing", () => {
    expect(decide([ERROR, WARNING], subject(), config("mode: off"), NOW).reported).toEqual([]);
  });
});

describe("decide: exemptions", () => {
  const base = (criteria: string, extra = ""): StsguardConfig =>
    config(`
exemptions:
  - name: kafka-migration
    reason: PLAT-123
    expires: "2026-12-31T23:59:59Z"
${criteria
  .trim()
  .split("\n")
  .map((line) => `    ${line}`)
  .join("\n")}
${extra}`);

  const rows: {
    name: string;
    criteria: string;
    subject?: Partial<GuardrailSubject>;
    applies: boolean;
  }[] = [
    { name: "namespace name", criteria: "namespaces: [kafka]", applies: true },
    { name: "namespace name, other namespace", criteria: "namespaces: [other]", applies: false },
    { name: "namespace glob", criteria: 'namespaces: ["kaf*"]', applies: true },
    { name: "namespace glob ?", criteria: 'namespaces: ["kafk?"]', applies: true },
    { name: "namespace glob, no match", criteria: 'namespaces: ["team-*"]', applies: false },
    {
      name: "namespace selector matchLabels",
      criteria: "namespaces: [kafka]\nnamespaceSelector: {matchLabels: {team: data}}",
      applies: true,
    },
    {
      name: "namespace selector, other labels",
      criteria: "namespaces: [kafka]\nnamespaceSelector: {matchLabels: {team: web}}",
      applies: false,
    },
    {
      name: "namespace selector In",
      criteria:
        "namespaces: [kafka]\nnamespaceSelector: {matchExpressions: [{key: team, operator: In, values: [data, ml]}]}",
      applies: true,
    },
    {
      name: "namespace selector NotIn",
      criteria:
        "namespaces: [kafka]\nnamespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [data]}]}",
      applies: false,
    },
    {
      name: "namespace selector Exists",
      criteria:
        "namespaces: [kafka]\nnamespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}",
      applies: true,
    },
    {
      name: "namespace selector DoesNotExist",
      criteria:
        "namespaces: [kafka]\nnamespaceSelector: {matchExpressions: [{key: team, operator: DoesNotExist}]}",
      applies: false,
    },
    { name: "service name", criteria: "namespaces: [kafka]\nservices: [broker-3]", applies: true },
    {
      name: "service glob",
      criteria: 'namespaces: [kafka]\nservices: ["broker-*"]',
      applies: true,
    },
    {
      name: "service glob, other Service",
      criteria: 'namespaces: [kafka]\nservices: ["zk-*"]',
      applies: false,
    },
    {
      name: "services never match a StatefulSet",
      criteria: 'namespaces: [kafka]\nservices: ["broker*"]',
      subject: { kind: "StatefulSet", name: "broker", statefulSet: "broker" },
      applies: false,
    },
    {
      name: "statefulSet of a Service",
      criteria: "namespaces: [kafka]\nstatefulSets: [broker]",
      applies: true,
    },
    {
      name: "statefulSet itself",
      criteria: "namespaces: [kafka]\nstatefulSets: [broker]",
      subject: { kind: "StatefulSet", name: "broker", statefulSet: "broker" },
      applies: true,
    },
    {
      name: "statefulSet glob",
      criteria: 'namespaces: [kafka]\nstatefulSets: ["bro*"]',
      applies: true,
    },
    {
      name: "statefulSet, other",
      criteria: "namespaces: [kafka]\nstatefulSets: [zk]",
      applies: false,
    },
    {
      name: "statefulSet, Service whose target does not parse",
      criteria: "namespaces: [kafka]\nstatefulSets: [broker]",
      subject: { statefulSet: null },
      applies: false,
    },
    { name: "user", criteria: "users: [alice]", applies: true },
    { name: "user, other user", criteria: "users: [bob]", applies: false },
    {
      name: "service account user glob",
      criteria: 'users: ["system:serviceaccount:ci:*"]',
      subject: { user: { username: "system:serviceaccount:ci:deployer", groups: [] } },
      applies: true,
    },
    { name: "group", criteria: "groups: [data-admins]", applies: true },
    { name: "group, not a member", criteria: "groups: [web-admins]", applies: false },
    {
      name: "every criterion given must match",
      criteria: "namespaces: [kafka]\nusers: [bob]",
      applies: false,
    },
    {
      name: "all criteria matching",
      criteria:
        'namespaces: [kafka]\nservices: ["broker-*"]\nstatefulSets: [broker]\nusers: [alice]\ngroups: [data-admins]',
      applies: true,
    },
    {
      name: "rule listed",
      criteria: "namespaces: [kafka]\nrules: [ordinal-out-of-range]",
      applies: true,
    },
    {
      name: "rule not listed",
      criteria: "namespaces: [kafka]\nrules: [missing-labels]",
      applies: false,
    },
  ];

  it.each(rows)("$name", ({ criteria, subject: changes, applies }) => {
    const decision = decide([ERROR, WARNING], subject(changes), base(criteria), NOW);
    expect(decision.deny).toBe(!applies);
    if (applies) {
      expect(decision.applied).toEqual([
        {
          name: "kafka-migration",
          reason: "PLAT-123",
          expiresAt: Date.parse("2026-12-31T23:59:59Z"),
          rules: ["ordinal-out-of-range"],
        },
      ]);
      expect(decision.findings[0]).toEqual({
        ...ERROR,
        severity: "warning",
        message:
          "exempted by kafka-migration (PLAT-123) until 2026-12-31T23:59:59Z: ordinal-out-of-range message",
      });
    } else {
      expect(decision.applied).toEqual([]);
      expect(decision.findings[0]).toEqual(ERROR);
    }
    // Warnings are never changed by an exemption.
    expect(decision.findings[1]).toEqual(WARNING);
  });

  it("lifts only the rules it names and leaves other errors denying", () => {
    const decision = decide(
      [ERROR, FIXABLE],
      subject(),
      base("namespaces: [kafka]\nrules: [external-traffic-policy]"),
      NOW,
    );
    expect(decision.findings.map((f) => [f.rule, f.severity])).toEqual([
      ["ordinal-out-of-range", "error"],
      ["external-traffic-policy", "warning"],
    ]);
    expect(decision.deny).toBe(true);
    expect(decision.applied[0]?.rules).toEqual(["external-traffic-policy"]);
  });

  it("says 'with no expiry' for an exemption without expires", () => {
    const decision = decide(
      [ERROR],
      subject(),
      config("exemptions: [{name: forever, reason: ADR-7, namespaces: [kafka]}]"),
      NOW,
    );
    expect(decision.findings[0]?.message).toBe(
      "exempted by forever (ADR-7) with no expiry: ordinal-out-of-range message",
    );
  });

  it("lifts errors to warnings in warn mode too, without the would-have-been-denied note", () => {
    const decision = decide([ERROR], subject(), base("namespaces: [kafka]", "mode: warn"), NOW);
    expect(decision.reported[0]?.message).toMatch(/^exempted by kafka-migration/);
  });

  it("uses the first exemption in file order and names it", () => {
    const decision = decide(
      [ERROR],
      subject(),
      config(`
exemptions:
  - {name: first, reason: A-1, namespaces: [kafka]}
  - {name: second, reason: A-2, namespaces: [kafka]}
`),
      NOW,
    );
    expect(decision.applied.map((a) => a.name)).toEqual(["first"]);
  });

  it("is never granted by a label or annotation on the object (the subject has none to read)", () => {
    // The subject carries only names, namespace labels and the user: an object's own labels
    // cannot reach an exemption. This pins that shape.
    expect(Object.keys(subject()).sort()).toEqual(
      ["kind", "name", "namespace", "namespaceLabels", "statefulSet", "user"].sort(),
    );
  });
});

describe("decide: exemption expiry, with an injected clock", () => {
  const at = (expires: string): StsguardConfig =>
    config(`exemptions: [{name: tmp, reason: T-1, namespaces: [kafka], expires: "${expires}"}]`);
  const rows = [
    {
      name: "1 s before expiry (UTC)",
      expires: "2026-12-31T23:59:59Z",
      now: "2026-12-31T23:59:58Z",
      applies: true,
    },
    {
      name: "at the instant of expiry: expired",
      expires: "2026-12-31T23:59:59Z",
      now: "2026-12-31T23:59:59Z",
      applies: false,
    },
    {
      name: "1 ms before expiry",
      expires: "2026-12-31T23:59:59Z",
      now: "2026-12-31T23:59:58.999Z",
      applies: true,
    },
    {
      name: "1 s after expiry (UTC)",
      expires: "2026-12-31T23:59:59Z",
      now: "2027-01-01T00:00:00Z",
      applies: false,
    },
    // 2027-01-01T00:30:00+01:00 is 2026-12-31T23:30:00Z.
    {
      name: "1 s before, offset +01:00",
      expires: "2027-01-01T00:30:00+01:00",
      now: "2026-12-31T23:29:59Z",
      applies: true,
    },
    {
      name: "1 s after, offset +01:00",
      expires: "2027-01-01T00:30:00+01:00",
      now: "2026-12-31T23:30:01Z",
      applies: false,
    },
    // 2026-12-31T20:00:00-05:00 is 2027-01-01T01:00:00Z: still valid on the 1st in UTC.
    {
      name: "1 s before, offset -05:00",
      expires: "2026-12-31T20:00:00-05:00",
      now: "2027-01-01T00:59:59Z",
      applies: true,
    },
    {
      name: "1 s after, offset -05:00",
      expires: "2026-12-31T20:00:00-05:00",
      now: "2027-01-01T01:00:01Z",
      applies: false,
    },
    {
      name: "1 s before, offset +05:30",
      expires: "2027-01-01T05:30:00+05:30",
      now: "2026-12-31T23:59:59Z",
      applies: true,
    },
    {
      name: "at it, offset +05:30",
      expires: "2027-01-01T05:30:00+05:30",
      now: "2027-01-01T00:00:00Z",
      applies: false,
    },
    {
      name: "fractional seconds, before",
      expires: "2026-12-31T23:59:59.5Z",
      now: "2026-12-31T23:59:59.499Z",
      applies: true,
    },
    {
      name: "fractional seconds, at",
      expires: "2026-12-31T23:59:59.5Z",
      now: "2026-12-31T23:59:59.500Z",
      applies: false,
    },
  ];

  it.each(rows)("$name", ({ expires, now, applies }) => {
    const decision = decide([ERROR], subject(), at(expires), new Date(now));
    expect(decision.deny).toBe(!applies);
    if (applies) {
      expect(decision.applied.map((a) => a.name)).toEqual(["tmp"]);
      expect(decision.expired).toEqual([]);
    } else {
      expect(decision.applied).toEqual([]);
      expect(decision.expired.map((a) => a.name)).toEqual(["tmp"]);
      expect(decision.findings[0]?.message).toBe(
        `exemption tmp (T-1) expired at ${new Date(Date.parse(expires)).toISOString().replace(".000Z", "Z")}: ordinal-out-of-range message`,
      );
      expect(decision.findings[0]?.severity).toBe("error");
    }
  });

  it("names the expiry in UTC whatever offset the file used", () => {
    const decision = decide(
      [ERROR],
      subject(),
      at("2027-01-01T00:30:00+01:00"),
      new Date("2027-02-01T00:00:00Z"),
    );
    expect(decision.findings[0]?.message).toContain("expired at 2026-12-31T23:30:00Z");
  });

  it("stops naming an expired exemption when a live one lifts the same rule", () => {
    const decision = decide(
      [ERROR],
      subject(),
      config(`
exemptions:
  - {name: old, reason: O-1, namespaces: [kafka], expires: "2026-01-01T00:00:00Z"}
  - {name: renewed, reason: O-2, namespaces: [kafka], expires: "2027-01-01T00:00:00Z"}
`),
      NOW,
    );
    expect(decision.applied.map((a) => a.name)).toEqual(["renewed"]);
    expect(decision.expired).toEqual([]);
    expect(decision.deny).toBe(false);
  });
});

describe("decide: facts not known offline", () => {
  const offline = (overrides: {
    user?: RequestUser | null;
    namespaceLabels?: null;
  }): GuardrailSubject => subject({ user: null, ...overrides });

  it("reports exemptions by user or group as unevaluated, and keeps the error", () => {
    const decision = decide(
      [ERROR],
      offline({}),
      config(`
exemptions:
  - {name: ci, reason: C-1, users: ["system:serviceaccount:ci:deployer"]}
  - {name: admins, reason: C-2, namespaces: [kafka], groups: [data-admins]}
  - {name: elsewhere, reason: C-3, namespaces: [other], users: [bob]}
`),
      NOW,
    );
    expect(decision.deny).toBe(true);
    expect(decision.unevaluated).toEqual([
      { name: "ci", missing: ["user"], rules: ["ordinal-out-of-range"] },
      { name: "admins", missing: ["groups"], rules: ["ordinal-out-of-range"] },
    ]);
  });

  it("reports a namespace selector as unevaluated without namespace labels", () => {
    const decision = decide(
      [ERROR],
      offline({ namespaceLabels: null }),
      config(
        "exemptions: [{name: data, reason: D-1, namespaces: [kafka], namespaceSelector: {matchLabels: {team: data}}}]",
      ),
      NOW,
    );
    expect(decision.unevaluated).toEqual([
      { name: "data", missing: ["namespaceLabels"], rules: ["ordinal-out-of-range"] },
    ]);
  });

  it("says nothing of exemptions that had no error to lift, or that another exemption covered", () => {
    const cfg = config(`
exemptions:
  - {name: by-user, reason: U-1, users: [alice]}
  - {name: by-name, reason: N-1, namespaces: [kafka]}
`);
    expect(decide([WARNING], offline({}), cfg, NOW).unevaluated).toEqual([]);
    const decision = decide([ERROR], offline({}), cfg, NOW);
    expect(decision.unevaluated).toEqual([]);
    expect(decision.applied.map((a) => a.name)).toEqual(["by-name"]);
  });
});
