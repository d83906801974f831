// The chart's guardrail values: the README's examples render into a ConfigMap the real parser
// accepts, and values.schema.json refuses what the server would refuse.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigMap } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig, type StsguardConfig } from "../../src/config/config.js";
import { namespaceMode } from "../../src/guardrails/index.js";
import { CHART_DIR, findObject, renderChart, tryRenderChart, type Values } from "./helm.js";

const readme = readFileSync(join(CHART_DIR, "README.md"), "utf8");

/** The values block under a `### <title>` heading of the chart README. */
function example(title: string): Values {
  const section = readme.split(`### ${title}\n`)[1]?.split("\n### ")[0] ?? "";
  const block = section.split("```yaml\n")[1]?.split("```")[0];
  if (block === undefined) throw new Error(`no yaml example under "${title}"`);
  return parseYaml(block) as Values;
}

function renderedConfig(values: Values): StsguardConfig {
  const configMap = findObject(renderChart({ values }), ConfigMap.is);
  return parseConfig(configMap.data?.["config.yaml"] ?? "", "ConfigMap config.yaml");
}

describe("chart README guardrail examples", () => {
  it("watch a new cluster first: monitor everywhere", () => {
    const config = renderedConfig(example("Watch a new cluster first"));
    expect(config.guardrails.mode).toBe("monitor");
    expect(namespaceMode("anything", {}, config).mode).toBe("monitor");
  });

  it("enforce in one namespace", () => {
    const config = renderedConfig(example("Enforce in one namespace"));
    expect(namespaceMode("payments", {}, config).mode).toBe("enforce");
    expect(namespaceMode("team-a", {}, config).mode).toBe("enforce");
    expect(namespaceMode("play-1", { tier: "sandbox" }, config).mode).toBe("monitor");
    // The same label outside labelsMayLowerIn lowers nothing.
    expect(namespaceMode("web", { tier: "sandbox" }, config).mode).toBe("warn");
    expect(namespaceMode("web", {}, config).mode).toBe("warn");
  });

  it("a two-week exemption for one Service", () => {
    const config = renderedConfig(example("A two-week exemption for one Service"));
    expect(config.guardrails.exemptions).toMatchObject([
      {
        name: "kafka-broker-5",
        expiresAt: Date.parse("2026-12-15T00:00:00Z"),
        namespaces: ["kafka"],
        services: ["broker-5"],
        rules: ["ordinal-out-of-range"],
      },
    ]);
  });

  it("renders the defaults into a configuration the server accepts", () => {
    expect(renderedConfig({}).guardrails).toEqual({
      mode: "enforce",
      namespaces: [],
      labelsMayLowerIn: [],
      optOutLabel: null,
      namespaceModeLabel: false,
      exemptions: [],
    });
  });

  it("keeps an unquoted expires a string, with its offset", () => {
    const config = renderedConfig(
      parseYaml(
        "config:\n  exemptions:\n    - {name: a, reason: r, namespaces: [x], expires: 2027-01-01T00:30:00+01:00}\n",
      ) as Values,
    );
    expect(config.guardrails.exemptions[0]?.expiresAt).toBe(Date.parse("2026-12-31T23:30:00Z"));
  });
});

describe("values.schema.json refuses bad guardrail values", () => {
  it.each([
    { name: "an unknown mode", config: { mode: "strict" }, message: "config.mode must be one of" },
    {
      name: "a namespace rule without names or selector",
      config: { namespaces: [{ mode: "warn" }] },
      message: "config.namespaces.0",
    },
    {
      name: "a namespace rule without mode",
      config: { namespaces: [{ names: ["a"] }] },
      message: "mode is required",
    },
    {
      name: "an exemption without reason",
      config: { exemptions: [{ name: "a", namespaces: ["x"] }] },
      message: "reason is required",
    },
    {
      name: "an exemption that matches nothing in particular",
      config: { exemptions: [{ name: "a", reason: "r" }] },
      message: "config.exemptions.0",
    },
    {
      name: "an exemption scoped only by names its authors choose",
      config: {
        exemptions: [{ name: "a", reason: "r", statefulSets: ["kafka"], services: ["kafka-*"] }],
      },
      message: "config.exemptions.0: Must validate at least one schema (anyOf)",
    },
    {
      name: "an opt-out label without a value",
      config: { labelsMayLowerIn: ["a"], optOutLabel: { key: "stsguard.io/admission" } },
      message: "config.optOutLabel",
    },
    {
      name: "an expiry without offset",
      config: {
        exemptions: [{ name: "a", reason: "r", namespaces: ["x"], expires: "2026-12-15T00:00:00" }],
      },
      message: "config.exemptions.0.expires: Does not match pattern",
    },
    {
      name: "an unknown rule id",
      config: { exemptions: [{ name: "a", reason: "r", namespaces: ["x"], rules: ["nope"] }] },
      message: "config.exemptions.0.rules.0 must be one of",
    },
    {
      name: "a misspelt exemption key",
      config: { exemptions: [{ name: "a", reason: "r", namespace: ["x"] }] },
      message: "Additional property namespace is not allowed",
    },
  ])("$name", ({ config, message }) => {
    const result = tryRenderChart({ values: { config } });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(message);
  });
});
