/**
 * Validators for the admission policy kinds, from the Kubernetes OpenAPI schema of each release
 * (test/fixtures/admission-policy-openapi, see its README), made strict: a field the release
 * does not know is an error, as kubectl's strict field validation makes it.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { repoRoot } from "../helpers/objects.js";

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

const minorOf = (release: string): number => Number(release.split(".")[1]);

/** `1.30-v1.json` → release 1.30, group version v1. */
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".json"))
  .map((file) => {
    const [release = "", version = ""] = file.replace(".json", "").split("-");
    return { file, minor: minorOf(release), version, validators: loadValidators(file) };
  })
  // Newest first: a release without a file of its own has the schema of the newest one before it.
  .sort((a, b) => b.minor - a.minor);

/** The validator of `kind` in `apiVersion` as Kubernetes `release` (e.g. "1.30") serves it. */
export function validatorFor(release: string, apiVersion: string, kind: string): ValidateFunction {
  // kubectl-validate's builtins end at 1.35: 1.36's v1 MutatingAdmissionPolicy is checked
  // against v1beta1, the same API before graduation.
  const graduated = release === "1.36" && kind.startsWith("Mutating");
  const version = graduated ? "v1beta1" : (apiVersion.split("/")[1] ?? "");
  const fixture = fixtures.find((f) => f.version === version && f.minor <= minorOf(release));
  const validate = fixture?.validators.get(kind);
  if (!validate) throw new Error(`no schema for ${kind} ${apiVersion} on ${release}`);
  return validate;
}
