/**
 * The chart's admission policies are what `stsguard export-policies` prints for the chart's own
 * configuration and the cluster's version: the template is generated from src/policy-export
 * (scripts/export-chart-policies.mjs), and real helm renders it here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { exportAdmissionPolicies } from "../../src/policy-export/index.js";
import { renderChartTemplate } from "../../src/policy-export/chart-template.js";
import { parseKubeVersion } from "../../src/config/config.js";
import { validatorFor } from "../policy-export/openapi-validators.js";
import {
  CHART_DIR,
  FULLNAME,
  lintChart,
  tryRenderChart,
  type Manifest,
  type Values,
} from "./helm.js";

const POLICY_KINDS = [
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
  "MutatingAdmissionPolicy",
  "MutatingAdmissionPolicyBinding",
];

function render(
  kubeVersion: string,
  values: Values,
): { objects: readonly Manifest[]; text: string } {
  const result = tryRenderChart({ values, extraArgs: ["--kube-version", kubeVersion] });
  if (!result.ok) throw new Error(result.error);
  return { objects: result.objects, text: result.text };
}

const policies = (objects: readonly Manifest[]): Manifest[] =>
  objects.filter((o) => POLICY_KINDS.includes(o.kind));

/** What the webhook reads: the rendered ConfigMap's config.yaml. */
function renderedConfig(objects: readonly Manifest[]): string {
  const configMap = objects.find((o) => o.kind === "ConfigMap");
  const data = configMap?.["data"] as Record<string, string> | undefined;
  if (!data?.["config.yaml"]) throw new Error("no rendered config.yaml");
  return data["config.yaml"];
}

/** The chart's objects in the CLI's terms: CLI names, no labels, no namespace selector. */
function asExported(object: Manifest): Record<string, unknown> {
  const rename = (name: string): string => name.replace(`${FULLNAME}-`, "stsguard-");
  const spec = { ...(object["spec"] as Record<string, unknown>) };
  if (typeof spec["policyName"] === "string") spec["policyName"] = rename(spec["policyName"]);
  delete spec["matchResources"];
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name: rename(object.metadata.name) },
    spec,
  };
}

function withoutLabels(object: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const metadata = object["metadata"] as { name: string };
  return { ...object, metadata: { name: metadata.name } };
}

const CONFIGURED: Values = {
  config: {
    rules: { "malformed-pod-name": "warning", "external-traffic-policy": "off" },
    preexistingViolations: "enforce",
    labels: {
      prefix: "acme.example",
      extra: [
        { key: "example.com/owner", value: "platform" },
        { key: "example.com/team", fromStatefulSetLabel: "team" },
        { key: "tier", value: "db" },
      ],
    },
  },
};

const CASES = [
  "1.26.5",
  "1.27.3",
  "1.28.0",
  "1.29.4",
  "1.30.1",
  "1.32.0",
  "1.34.2",
  "1.36.0",
].flatMap((kubeVersion) => [
  { kubeVersion, name: "defaults", values: {} },
  { kubeVersion, name: "a configured policy", values: CONFIGURED },
]);

describe("charts/stsguard/templates/admission-policies.yaml", () => {
  it("is what scripts/export-chart-policies.mjs generates from src/policy-export", () => {
    const committed = readFileSync(
      path.join(CHART_DIR, "templates", "admission-policies.yaml"),
      "utf8",
    );
    expect(committed, "run `npm run build && node scripts/export-chart-policies.mjs`").toBe(
      renderChartTemplate(),
    );
  });

  it("passes helm lint --strict when switched on", () => {
    const result = lintChart({ admissionPolicies: { enabled: true } });
    expect(result.output).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(result.ok).toBe(true);
  });

  it("installs nothing by default", () => {
    expect(policies(render("1.36.0", {}).objects)).toEqual([]);
  });

  it.each(CASES)(
    "on $kubeVersion with $name: the same objects export-policies prints",
    ({ kubeVersion, values }) => {
      const { objects, text } = render(kubeVersion, {
        ...values,
        admissionPolicies: { enabled: true },
      });
      const config = parseConfig(renderedConfig(objects), "config.yaml");
      const cli = exportAdmissionPolicies(config.policy, {
        kubeVersion: parseKubeVersion(kubeVersion),
      });
      const chart = policies(objects);
      // 1.26 installs only the error rules: missing-labels alone in the configured case.
      expect(chart.length).toBeGreaterThanOrEqual(kubeVersion.startsWith("1.26.") ? 2 : 4);
      // helm orders documents by kind; the CLI by rule.
      const byKindAndName = (a: Record<string, unknown>, b: Record<string, unknown>): number =>
        JSON.stringify([a["kind"], a["metadata"]]).localeCompare(
          JSON.stringify([b["kind"], b["metadata"]]),
        );
      expect(chart.map(asExported).sort(byKindAndName)).toEqual(
        cli.objects.map(withoutLabels).sort(byKindAndName),
      );
      expect(
        text
          .trimEnd()
          .split("\n")
          .filter((line) => line.trim() === ""),
      ).toEqual([]);
      // The chart's own parts (labels, namespace selector) fit the release's schema too.
      const release = kubeVersion.split(".").slice(0, 2).join(".");
      for (const object of chart) {
        const validate = validatorFor(release, object.apiVersion, object.kind);
        expect(validate(object), JSON.stringify(validate.errors)).toBe(true);
      }
    },
  );

  it("binds the policies only where the webhook runs: the same namespace selector", () => {
    const { objects } = render("1.36.0", {
      admissionPolicies: { enabled: true },
      webhook: { namespaceSelector: { excludedNamespaces: ["monitoring"] } },
    });
    const webhook = objects.find((o) => o.kind === "ValidatingWebhookConfiguration");
    const selector = (webhook?.["webhooks"] as { namespaceSelector: unknown }[])[0]
      ?.namespaceSelector;
    expect(JSON.stringify(selector)).toContain("monitoring");
    const bindings = policies(objects).filter((o) => o.kind.endsWith("Binding"));
    expect(bindings.length).toBe(8);
    for (const binding of bindings) {
      expect((binding["spec"] as { matchResources: unknown }).matchResources).toEqual({
        namespaceSelector: selector,
      });
    }
  });

  it("leaves out the MutatingAdmissionPolicies where the version has none, or when told to", () => {
    const kinds = (kubeVersion: string, values: Values): string[] => [
      ...new Set(policies(render(kubeVersion, values).objects).map((o) => o.kind)),
    ];
    expect(kinds("1.31.0", { admissionPolicies: { enabled: true } })).toEqual([
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ]);
    expect(
      kinds("1.36.0", { admissionPolicies: { enabled: true, mutating: { enabled: false } } }),
    ).toEqual(["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);
  });

  it("on 1.26 installs v1alpha1 policies that can only deny: no warnings, static messages", () => {
    const chart = policies(render("1.26.5", { admissionPolicies: { enabled: true } }).objects);
    expect(chart.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(
      Array(6)
        .fill(0)
        .map((_, i) =>
          i < 3
            ? "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy"
            : "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBinding",
        ),
    );
    const text = JSON.stringify(chart);
    expect(text).not.toMatch(/validationActions|matchConditions|messageExpression/);
    expect(text).toContain(
      "missing-labels: this Service lacks a required label or has it with another value (required: stsguard.io/statefulset=<statefulset>",
    );
  });

  it("fails with a clear message on Kubernetes without ValidatingAdmissionPolicy", () => {
    const result = tryRenderChart({
      values: { admissionPolicies: { enabled: true } },
      extraArgs: ["--kube-version", "1.25.9"],
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(
      "admissionPolicies.enabled: Kubernetes v1.25.9 serves no ValidatingAdmissionPolicy (v1alpha1 from 1.26 behind its feature gate, v1 from 1.30); set admissionPolicies.enabled=false",
    );
  });
});
