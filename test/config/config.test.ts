import { DEFAULT_CONTROLLER_LIMITS } from "../../src/config/controller.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DEFAULT_KUBE_VERSION,
  DEFAULT_SEVERITIES,
  defaultConfig,
  loadConfigFile,
  parseConfig,
  parseKubeVersion,
  withKubeVersion,
  type StsguardConfig,
} from "../../src/config/config.js";
import { ConfigError } from "../../src/errors.js";
import { DEFAULT_GUARDRAILS } from "../../src/guardrails/index.js";
import { RULE_IDS } from "../../src/policy/index.js";

const FILE = "stsguard.yaml";

const FULL = `
# every setting
rules:
  statefulset-not-found: error
  orphaned-service: off
  external-traffic-policy: warning
labels:
  prefix: acme.example
  extra:
    - key: example.com/owner
      value: platform
    - key: team
      fromStatefulSetLabel: app.kubernetes.io/part-of
preexistingViolations: enforce
onLookupFailure: allow
kubeVersion: "v1.29.3"
`;

describe("parseConfig", () => {
  it("reads every setting", () => {
    const config = parseConfig(FULL, FILE);
    expect(config).toEqual({
      policy: {
        severities: {
          ...DEFAULT_SEVERITIES,
          "statefulset-not-found": "error",
          "orphaned-service": "off",
          "external-traffic-policy": "warning",
        },
        labelPrefix: "acme.example",
        extraLabels: [
          { key: "example.com/owner", value: "platform" },
          { key: "team", fromStatefulSetLabel: "app.kubernetes.io/part-of" },
        ],
        kubeVersion: { major: 1, minor: 29 },
        preexistingViolations: "enforce",
      },
      onLookupFailure: "allow",
      kubeVersion: { major: 1, minor: 29 },
      guardrails: DEFAULT_GUARDRAILS,
      controller: DEFAULT_CONTROLLER_LIMITS,
    } satisfies StsguardConfig);
  });

  it("reads the same settings from JSON (YAML's subset)", () => {
    const json = JSON.stringify({ rules: { "missing-labels": "off" }, onLookupFailure: "allow" });
    const config = parseConfig(json, "stsguard.json");
    expect(config.policy.severities["missing-labels"]).toBe("off");
    expect(config.onLookupFailure).toBe("allow");
  });

  const defaultRows = [
    { name: "an empty file", text: "" },
    { name: "only a comment", text: "# nothing to change\n" },
    { name: "an empty mapping", text: "{}" },
    { name: "null", text: "null" },
    { name: "every section empty", text: "rules:\nlabels:\n  extra:\n" },
  ];

  it.each(defaultRows)("gives the defaults for $name", ({ text }) => {
    expect(parseConfig(text, FILE)).toEqual(defaultConfig);
  });

  it("has the documented defaults", () => {
    expect(defaultConfig).toEqual({
      policy: {
        severities: {
          "malformed-pod-name": "error",
          "statefulset-not-found": "warning",
          "ordinal-out-of-range": "error",
          "external-traffic-policy": "error",
          "missing-labels": "error",
          "selector-mismatch": "error",
          "orphaned-service": "warning",
          "removed-api-version": "error",
          "governing-service": "warning",
        },
        labelPrefix: "stsguard.io",
        extraLabels: [],
        kubeVersion: { major: 1, minor: 36 },
        preexistingViolations: "warn",
      },
      onLookupFailure: "deny",
      kubeVersion: null,
      guardrails: {
        mode: "enforce",
        namespaces: [],
        labelsMayLowerIn: [],
        optOutLabel: null,
        namespaceModeLabel: false,
        exemptions: [],
      },
      controller: {
        namespaces: ["*"],
        namespaceSelector: null,
        serviceTypes: ["LoadBalancer", "NodePort"],
        serviceAnnotations: [],
        maxServicesPerStatefulSet: 64,
      },
    });
    expect(Object.keys(defaultConfig.policy.severities).sort()).toEqual([...RULE_IDS].sort());
    expect(DEFAULT_KUBE_VERSION).toEqual({ major: 1, minor: 36 });
  });

  it("freezes the result all the way down", () => {
    const config = parseConfig(FULL, FILE);
    for (const part of [
      config,
      config.policy,
      config.policy.severities,
      config.policy.extraLabels,
      config.policy.extraLabels[0],
      config.policy.kubeVersion,
      config.kubeVersion,
      defaultConfig,
      defaultConfig.policy.severities,
    ]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (config.policy.severities as Record<string, string>)["missing-labels"] = "off";
    }).toThrow(TypeError);
  });

  it("does not let one parse change the defaults of the next", () => {
    parseConfig("rules:\n  missing-labels: off\n", FILE);
    expect(parseConfig("", FILE).policy.severities["missing-labels"]).toBe("error");
    expect(DEFAULT_SEVERITIES["missing-labels"]).toBe("error");
  });

  const errorRows: readonly { name: string; text: string; error: RegExp }[] = [
    { name: "invalid YAML", text: "rules: [error\n", error: /^stsguard\.yaml: not valid YAML/ },
    {
      name: "two YAML documents",
      text: "rules: {}\n---\nrules: {}\n",
      error: /^stsguard\.yaml: not valid YAML/,
    },
    {
      name: "a duplicate key",
      text: "onLookupFailure: deny\nonLookupFailure: allow\n",
      error: /^stsguard\.yaml: not valid YAML/,
    },
    {
      name: "a list instead of a mapping",
      text: "- rules\n",
      error: /^stsguard\.yaml: the configuration must be a mapping$/,
    },
    {
      name: "a scalar instead of a mapping",
      text: "strict\n",
      error: /^stsguard\.yaml: the configuration must be a mapping$/,
    },
    {
      name: "an unknown top-level key",
      text: "rule:\n  missing-labels: off\n",
      error: /^stsguard\.yaml: rule: unknown setting \(known: rules, labels, /,
    },
    {
      name: "rules not a mapping",
      text: "rules: [missing-labels]\n",
      error: /^stsguard\.yaml: rules: must be a mapping$/,
    },
    {
      name: "an unknown rule id",
      text: "rules:\n  missing-label: off\n",
      error: /^stsguard\.yaml: rules\.missing-label: unknown rule id \(known: malformed-pod-name, /,
    },
    {
      name: "a bad severity",
      text: "rules:\n  missing-labels: warn\n",
      error:
        /^stsguard\.yaml: rules\.missing-labels: severity must be error, warning or off, not "warn"$/,
    },
    {
      name: "a severity that YAML reads as a boolean",
      text: "rules:\n  missing-labels: false\n",
      error: /^stsguard\.yaml: rules\.missing-labels: severity must be .*, not false$/,
    },
    {
      name: "an empty severity",
      text: "rules:\n  missing-labels:\n",
      error: /^stsguard\.yaml: rules\.missing-labels: severity must be .*, not null$/,
    },
    {
      name: "labels not a mapping",
      text: "labels: stsguard.io\n",
      error: /^stsguard\.yaml: labels: must be a mapping$/,
    },
    {
      name: "an unknown key under labels",
      text: "labels:\n  prefx: acme.example\n",
      error: /^stsguard\.yaml: labels: prefx: unknown setting \(known: prefix, extra\)$/,
    },
    {
      name: "a prefix with uppercase letters",
      text: "labels:\n  prefix: Acme.example\n",
      error: /^stsguard\.yaml: labels\.prefix: "Acme\.example" is not a DNS subdomain$/,
    },
    {
      name: "a prefix with a slash",
      text: "labels:\n  prefix: acme.example/x\n",
      error: /^stsguard\.yaml: labels\.prefix: /,
    },
    {
      name: "an empty prefix",
      text: 'labels:\n  prefix: ""\n',
      error: /^stsguard\.yaml: labels\.prefix: "" is not a DNS subdomain$/,
    },
    {
      name: "a prefix longer than 253 characters",
      text: `labels:\n  prefix: ${"a.".repeat(127)}a\n`,
      error: /^stsguard\.yaml: labels\.prefix: /,
    },
    {
      name: "a prefix that is a number",
      text: "labels:\n  prefix: 42\n",
      error: /^stsguard\.yaml: labels\.prefix: must be a string$/,
    },
    {
      name: "extra not a list",
      text: "labels:\n  extra:\n    key: team\n    value: a\n",
      error: /^stsguard\.yaml: labels\.extra: must be a list$/,
    },
    {
      name: "an extra entry that is not a mapping",
      text: "labels:\n  extra:\n    - team\n",
      error: /^stsguard\.yaml: labels\.extra\[0\]: must be a mapping/,
    },
    {
      name: "an extra label with both value and fromStatefulSetLabel",
      text: "labels:\n  extra:\n    - key: team\n      value: a\n      fromStatefulSetLabel: team\n",
      error:
        /^stsguard\.yaml: labels\.extra\[0\]: give exactly one of value or fromStatefulSetLabel$/,
    },
    {
      name: "an extra label with neither value nor fromStatefulSetLabel",
      text: "labels:\n  extra:\n    - key: team\n",
      error:
        /^stsguard\.yaml: labels\.extra\[0\]: give exactly one of value or fromStatefulSetLabel$/,
    },
    {
      name: "an extra label with an unknown key (typo)",
      text: "labels:\n  extra:\n    - key: team\n      value: a\n      fromStatefulSetLabl: team\n",
      error: /^stsguard\.yaml: labels\.extra\[0\]: fromStatefulSetLabl: unknown setting/,
    },
    {
      name: "an extra label without a key",
      text: "labels:\n  extra:\n    - value: a\n",
      error: /^stsguard\.yaml: labels\.extra\[0\]\.key: undefined is not a valid label key$/,
    },
    {
      name: "an extra label key with two slashes",
      text: "labels:\n  extra:\n    - key: a.io/b/c\n      value: x\n",
      error: /^stsguard\.yaml: labels\.extra\[0\]\.key: "a\.io\/b\/c" is not a valid label key$/,
    },
    {
      name: "an extra label key whose name part starts with a dash",
      text: "labels:\n  extra:\n    - key: example.com/-team\n      value: x\n",
      error: /labels\.extra\[0\]\.key: "example\.com\/-team" is not a valid label key$/,
    },
    {
      name: "an extra label key with an uppercase prefix",
      text: "labels:\n  extra:\n    - key: Example.com/team\n      value: x\n",
      error: /labels\.extra\[0\]\.key: /,
    },
    {
      name: "an extra label key whose name part is 64 characters",
      text: `labels:\n  extra:\n    - key: ${"a".repeat(64)}\n      value: x\n`,
      error: /labels\.extra\[0\]\.key: /,
    },
    {
      name: "an extra label key that is a number",
      text: "labels:\n  extra:\n    - key: 7\n      value: x\n",
      error: /labels\.extra\[0\]\.key: must be a string$/,
    },
    {
      name: "an extra label value with a space (second entry)",
      text: "labels:\n  extra:\n    - key: a\n      value: x\n    - key: b\n      value: two words\n",
      error: /^stsguard\.yaml: labels\.extra\[1\]\.value: "two words" is not a valid label value$/,
    },
    {
      name: "an extra label value of 64 characters",
      text: `labels:\n  extra:\n    - key: a\n      value: ${"x".repeat(64)}\n`,
      error: /labels\.extra\[0\]\.value: /,
    },
    {
      name: "an extra label value ending in a dash",
      text: "labels:\n  extra:\n    - key: a\n      value: x-\n",
      error: /labels\.extra\[0\]\.value: "x-" is not a valid label value$/,
    },
    {
      name: "an extra label value that YAML reads as a number",
      text: "labels:\n  extra:\n    - key: a\n      value: 3\n",
      error: /labels\.extra\[0\]\.value: must be a string$/,
    },
    {
      name: "fromStatefulSetLabel that is not a label key",
      text: "labels:\n  extra:\n    - key: team\n      fromStatefulSetLabel: not a key\n",
      error: /labels\.extra\[0\]\.fromStatefulSetLabel: "not a key" is not a valid label key$/,
    },
    {
      name: "two extra labels with the same key",
      text: "labels:\n  extra:\n    - key: team\n      value: a\n    - key: team\n      value: b\n",
      error: /^stsguard\.yaml: labels\.extra\[1\]\.key: label team is already required/,
    },
    {
      name: "an extra label that would overwrite stsguard's own ordinal label",
      text: "labels:\n  extra:\n    - key: stsguard.io/ordinal\n      value: x\n",
      error: /labels\.extra\[0\]\.key: label stsguard\.io\/ordinal is already required/,
    },
    {
      name: "an extra label that would overwrite a custom prefix's statefulset label",
      text: "labels:\n  prefix: acme.example\n  extra:\n    - key: acme.example/statefulset\n      fromStatefulSetLabel: app\n",
      error: /labels\.extra\[0\]\.key: label acme\.example\/statefulset is already required/,
    },
    {
      name: "a bad preexistingViolations",
      text: "preexistingViolations: ignore\n",
      error: /^stsguard\.yaml: preexistingViolations: must be one of warn, enforce, not "ignore"$/,
    },
    {
      name: "a bad onLookupFailure",
      text: "onLookupFailure: true\n",
      error: /^stsguard\.yaml: onLookupFailure: must be one of deny, allow, not true$/,
    },
    {
      name: "a kubeVersion that is not a version",
      text: 'kubeVersion: "latest"\n',
      error: /^stsguard\.yaml: kubeVersion: "latest" is not a Kubernetes version like 1\.29$/,
    },
    {
      name: "a kubeVersion that is a list",
      text: "kubeVersion: [1, 29]\n",
      error: /^stsguard\.yaml: kubeVersion: must be a string like "1\.30"$/,
    },
    {
      name: "an unquoted kubeVersion (YAML reads 1.30 as 1.3)",
      text: "kubeVersion: 1.30\n",
      error: /^stsguard\.yaml: kubeVersion: write the version quoted/,
    },
  ];

  it.each(errorRows)("rejects $name, naming the file and field", ({ text, error }) => {
    let caught: unknown;
    try {
      parseConfig(text, FILE);
    } catch (e: unknown) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe("E_CONFIG");
    expect((caught as ConfigError).message).toMatch(error);
  });

  it("keeps the YAML error as the cause", () => {
    try {
      parseConfig("rules: [error\n", FILE);
      expect.unreachable();
    } catch (e: unknown) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).cause).toBeInstanceOf(Error);
    }
  });
});

describe("parseKubeVersion", () => {
  const rows = [
    { name: "1.29", text: "1.29", expected: { major: 1, minor: 29 } },
    { name: "v1.29.3", text: "v1.29.3", expected: { major: 1, minor: 29 } },
    { name: "1.29+ (GKE/EKS minor)", text: "1.29+", expected: { major: 1, minor: 29 } },
    { name: "v1.30.1-eks-abc", text: "v1.30.1-eks-abc", expected: { major: 1, minor: 30 } },
    { name: "v1.31.2+k3s1", text: "v1.31.2+k3s1", expected: { major: 1, minor: 31 } },
    { name: "v1.28.4-gke.1000", text: "v1.28.4-gke.1000", expected: { major: 1, minor: 28 } },
    { name: "surrounding spaces", text: " 1.36 ", expected: { major: 1, minor: 36 } },
    { name: "major 2", text: "2.0", expected: { major: 2, minor: 0 } },
  ];

  it.each(rows)("parses $name", ({ text, expected }) => {
    const version = parseKubeVersion(text);
    expect(version).toEqual(expected);
    expect(Object.isFrozen(version)).toBe(true);
  });

  it.each(["", "1", "latest", "v1", "1.x", "1.29.3.4", "version 1.29", "1..29"])(
    "rejects %j with a ConfigError",
    (text) => {
      expect(() => parseKubeVersion(text)).toThrow(ConfigError);
    },
  );

  it("names the flag it was given", () => {
    expect(() => parseKubeVersion("x", "--kube-version")).toThrow(
      /^--kube-version: "x" is not a Kubernetes version like 1\.29$/,
    );
  });
});

describe("withKubeVersion", () => {
  it("sets the policy's version, keeps the rest, and freezes", () => {
    const base = parseConfig(FULL, FILE);
    const config = withKubeVersion(base, { major: 1, minor: 27 });
    expect(config.policy.kubeVersion).toEqual({ major: 1, minor: 27 });
    expect(config.policy.severities).toEqual(base.policy.severities);
    expect(base.policy.kubeVersion).toEqual({ major: 1, minor: 29 });
    expect(Object.isFrozen(config.policy)).toBe(true);
  });
});

describe("loadConfigFile", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "stsguard-config-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads and parses a file", async () => {
    const file = path.join(dir, "ok.yaml");
    writeFileSync(file, FULL);
    const config = await loadConfigFile(file);
    expect(config.policy.labelPrefix).toBe("acme.example");
  });

  it("names the file in a parse error", async () => {
    const file = path.join(dir, "bad.yaml");
    writeFileSync(file, "rules:\n  nope: off\n");
    await expect(loadConfigFile(file)).rejects.toThrow(`${file}: rules.nope: unknown rule id`);
  });

  it("throws a ConfigError naming a missing file, with the cause", async () => {
    const file = path.join(dir, "missing.yaml");
    const error: unknown = await loadConfigFile(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(file);
    expect(((error as ConfigError).cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  });
});
