/**
 * Every exported object validates against the Kubernetes OpenAPI schema of the release it is
 * exported for (test/fixtures/admission-policy-openapi, see its README), strictly: a field the
 * release does not know is an error, as kubectl's strict field validation makes it.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import { exportAdmissionPolicies } from "../../src/policy-export/index.js";
import { repoRoot } from "../helpers/objects.js";
import { policyWith } from "../policy/engine-inputs.js";

const FIXTURES = path.join(repoRoot, "test", "fixtures", "admission-policy-openapi");

interface Fixture {
  readonly source: string;
  readonly roots: readonly string[];
  readonly schemas: Record<string, unknown>;
}

/** Object schemas with properties get `additionalProperties: false`: unknown fields are errors. */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = strict(value);
  if ("properties" in out && !("additionalProperties" in out)) out["additionalProperties"] = false;
  return out;
}

function loadValidators(file: string): Map<string, ValidateFunction> {
  const fixture = JSON.parse(readFileSync(path.join(FIXTURES, file), "utf8")) as Fixture;
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ $id: "k8s", components: { schemas: strict(fixture.schemas) } });
  const validators = new Map<string, ValidateFunction>();
  for (const root of fixture.roots) {
    const validate = ajv.getSchema(`k8s#/components/schemas/${root}`);
    if (!validate) throw new Error(`${file}: no schema ${root}`);
    validators.set(root.split(".").pop() ?? root, validate);
  }
  return validators;
}

/** `1.30-v1.json` → release 1.30, group version v1. */
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".json"))
  .map((file) => {
    const [release = "", version = ""] = file.replace(".json", "").split("-");
    return { file, release, version, validators: loadValidators(file) };
  });

function validatorFor(release: string, apiVersion: string, kind: string): ValidateFunction {
  const version = apiVersion.split("/")[1] ?? "";
  // kubectl-validate's builtins end at 1.35: 1.36's v1 MutatingAdmissionPolicy is checked
  // against 1.35's v1beta1, the same API before graduation.
  const [wantRelease, wantVersion] =
    release === "1.36"
      ? kind.startsWith("Mutating")
        ? ["1.35", "v1beta1"]
        : ["1.35", "v1"]
      : [release, version];
  const fixture = fixtures.find((f) => f.release === wantRelease && f.version === wantVersion);
  const validate = fixture?.validators.get(kind);
  if (!validate) throw new Error(`no schema for ${kind} ${apiVersion} on ${release}`);
  return validate;
}

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
  if (Array.isArray(value)) value.forEach((v, i) => { checkEnums(v, `${where}[${i}]`); });
  if (typeof value !== "object" || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    const allowed = (ALLOWED as Record<string, string[]>)[key];
    if (allowed) {
      for (const entry of [child].flat()) expect(allowed, `${where}.${key}`).toContain(entry);
    }
    checkEnums(child, `${where}.${key}`);
  }
}

const RELEASES = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36"];
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
      expect(objects.length).toBeGreaterThanOrEqual(6);
      for (const object of objects) {
        const kind = String(object["kind"]);
        const validate = validatorFor(release, String(object["apiVersion"]), kind);
        const ok = validate(object);
        expect(validate.errors ?? [], `${kind} on ${release}`).toEqual([]);
        expect(ok).toBe(true);
        checkEnums(object, kind);
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
