// The chart rendered for the Kubernetes versions it supports, as `helm template --kube-version`
// (and Argo CD, and helm install against a live cluster) renders it, each render checked against
// that version's API types: what `kubectl apply` and GitOps tools send through strict decoding.
import { describe, expect, it } from "vitest";
import { renderChart, type Manifest, type Values } from "./helm.js";
import { checkAgainstKubernetesTypes } from "./kubernetes-types-check.js";

const CONDITION = {
  name: "per-pod-services-only",
  expression:
    "request.resource.resource != 'services' || (has(object.spec) && has(object.spec.selector) && " +
    "'statefulset.kubernetes.io/pod-name' in object.spec.selector)",
};

/** Groups whose types kubernetes-types carries; cert-manager and Prometheus kinds are CRDs. */
const BUILT_IN = /^(v1|(apps|policy|[a-z]+\.k8s\.io|rbac\.authorization\.k8s\.io)\/v1)$/;

/**
 * Each version with the published types that match what its API server decodes. kubernetes-types
 * has no 1.24, 1.27 or 1.28 release: 1.24 is checked against 1.25 (admissionregistration/v1 did not
 * change between them); 1.27 against 1.26, because 1.27 knows the field only as an alpha feature,
 * off by default, and drops it; 1.28 against 1.29, the same v1 webhook types with the beta on.
 */
const VERSIONS = [
  { kubeVersion: "1.24.0", types: "kubernetes-types-1.25", matchConditions: false },
  { kubeVersion: "1.27.0", types: "kubernetes-types-1.26", matchConditions: false },
  { kubeVersion: "1.28.0", types: "kubernetes-types-1.29", matchConditions: true },
  { kubeVersion: "1.30.0", types: "kubernetes-types-1.30", matchConditions: true },
] as const;

function render(kubeVersion: string, values: Values = {}): readonly Manifest[] {
  return renderChart({ values, extraArgs: ["--kube-version", kubeVersion] });
}

function webhooksOf(objects: readonly Manifest[]): Record<string, unknown>[] {
  return objects
    .filter((o) => o.kind.endsWith("WebhookConfiguration"))
    .flatMap((o) => o["webhooks"] as Record<string, unknown>[]);
}

function typeErrors(objects: readonly Manifest[], types: string, label: string): string[] {
  return checkAgainstKubernetesTypes(
    objects
      .filter((object) => BUILT_IN.test(object.apiVersion))
      .map((object) => ({
        label: `${label}: ${object.kind} ${object.metadata.name}`,
        typesPackage: types,
        object,
      })),
  );
}

describe.each(VERSIONS)("the chart for Kubernetes $kubeVersion", (version) => {
  const objects = render(version.kubeVersion);

  it(`${version.matchConditions ? "has" : "has no"} matchConditions in both webhook configurations`, () => {
    const webhooks = webhooksOf(objects);
    expect(webhooks.map((webhook) => webhook["name"])).toEqual([
      "mutate.stsguard.io",
      "validate.stsguard.io",
    ]);
    for (const webhook of webhooks) {
      if (version.matchConditions) expect(webhook["matchConditions"]).toEqual([CONDITION]);
      else expect(webhook).not.toHaveProperty("matchConditions");
    }
  });

  it(`fits the API types of ${version.types} (no unknown field, no wrong type)`, () => {
    expect(objects.filter((object) => BUILT_IN.test(object.apiVersion)).length).toBeGreaterThan(8);
    expect(typeErrors(objects, version.types, version.kubeVersion)).toEqual([]);
  });
});

describe("matchConditions and the cluster's version", () => {
  it.each([
    { kubeVersion: "v1.28.3-eks-1234", present: true },
    { kubeVersion: "v1.29.1-gke.100", present: true },
    { kubeVersion: "v1.27.16-gke.2000", present: false },
    { kubeVersion: "1.26.15", present: false },
  ])("a vendor or patch version $kubeVersion: present $present", ({ kubeVersion, present }) => {
    for (const webhook of webhooksOf(render(kubeVersion))) {
      expect("matchConditions" in webhook).toBe(present);
    }
  });

  it("leaves them out on a new cluster too when switched off", () => {
    const webhooks = webhooksOf(
      render("1.30.0", { webhook: { matchConditions: { enabled: false } } }),
    );
    expect(webhooks).toHaveLength(2);
    for (const webhook of webhooks) expect(webhook).not.toHaveProperty("matchConditions");
  });

  it("would be caught by the check: a 1.30 render does not fit the 1.26 types", () => {
    const errors = typeErrors(render("1.30.0"), "kubernetes-types-1.26", "1.30 as 1.26");
    expect(errors).toHaveLength(2);
    for (const error of errors)
      expect(error).toMatch(
        /'"matchConditions"' does not exist in type '(Mutating|Validating)Webhook'/,
      );
  });
});
