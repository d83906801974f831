/**
 * Every exported object validates against the Kubernetes OpenAPI schema of the release it is
 * exported for (test/fixtures/admission-policy-openapi, see its README), strictly: a field the
 * release does not know is an error, as kubectl's strict field validation makes it.
 */
import { describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import { exportAdmissionPolicies } from "../../src/policy-export/index.js";
import { policyWith } from "../policy/engine-inputs.js";
import { validatorFor } from "./openapi-validators.js";

// Values the API documents for these fields (admissionregistration types.go).
const ALLOWED = {
  failurePolicy: ["Fail", "Ignore"],
  validationActions: ["Deny", "Warn", "Audit"],
  reason: ["Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge"],
  patchType: ["ApplyConfiguration", "JSONPatch"],
  reinvocationPolicy: ["Never", "IfNeeded"],
  matchPolicy: ["Exact", "Equivalent"],
};

function checkEnums(value: unknown, where: string): void {
  if (Array.isArray(value))
    value.forEach((v, i) => {
      checkEnums(v, `${where}[${i}]`);
    });
  if (typeof value !== "object" || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    const allowed = (ALLOWED as Record<string, string[]>)[key];
    if (allowed) {
      for (const entry of [child].flat()) expect(allowed, `${where}.${key}`).toContain(entry);
    }
    checkEnums(child, `${where}.${key}`);
  }
}

const RELEASES = [
  "1.26",
  "1.27",
  "1.28",
  "1.29",
  "1.30",
  "1.31",
  "1.32",
  "1.33",
  "1.34",
  "1.35",
  "1.36",
];
const CONFIGS = [
  { name: "defaults", config: {} },
  {
    name: "warnings, enforce, custom prefix and extra labels",
    config: {
      severities: { "malformed-pod-name": "warning", "missing-labels": "warning" } as const,
      preexistingViolations: "enforce" as const,
      labelPrefix: "acme.example",
      extraLabels: [
        { key: "example.com/owner", value: "platform" },
        { key: "example.com/team", fromStatefulSetLabel: "team" },
      ],
    },
  },
];

describe.each(CONFIGS)("exported with $name", ({ config }) => {
  it.each(RELEASES.map((release) => ({ release })))(
    "every object validates against the $release schema",
    ({ release }) => {
      const { objects } = exportAdmissionPolicies(policyWith(config), {
        kubeVersion: parseKubeVersion(release),
      });
      // 1.26 exports only the error rules: one in the second configuration.
      expect(objects.length).toBeGreaterThanOrEqual(release === "1.26" ? 2 : 6);
      for (const object of objects) {
        const kind = String(object["kind"]);
        const validate = validatorFor(release, String(object["apiVersion"]), kind);
        const ok = validate(object);
        expect(validate.errors ?? [], `${kind} on ${release}`).toEqual([]);
        expect(ok).toBe(true);
        checkEnums(object, kind);
        // The schema does not require it, but without it 1.27+ would reject the binding.
        if (kind === "ValidatingAdmissionPolicyBinding" && release !== "1.26") {
          expect(object["spec"], `${kind} on ${release}`).toHaveProperty("validationActions");
        }
      }
    },
  );
});

describe("the schemas are strict enough to catch a wrong version", () => {
  it("what is exported for 1.27 does not fit 1.26's v1alpha1 (no validationActions, matchConditions)", () => {
    const { objects } = exportAdmissionPolicies(policyWith(), {
      kubeVersion: parseKubeVersion("1.27"),
    });
    const errors = objects.flatMap((object) => {
      const validate = validatorFor(
        "1.26",
        "admissionregistration.k8s.io/v1alpha1",
        String(object["kind"]),
      );
      validate(object);
      return (validate.errors ?? []).map(
        (e) => `${e.instancePath} ${e.message ?? ""} ${JSON.stringify(e.params)}`,
      );
    });
    expect(errors.join("\n")).toContain("validationActions");
    expect(errors.join("\n")).toContain("matchConditions");
    expect(errors.join("\n")).toContain("messageExpression");
  });
});
