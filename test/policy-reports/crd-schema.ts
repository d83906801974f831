/**
 * Validation against a published CRD (test/fixtures/crds): ajv over the version's
 * `openAPIV3Schema`, plus what ajv cannot see — fields the schema does not know, which the API
 * server would prune silently (structural schemas drop unknown fields instead of rejecting them).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { repoRoot } from "../cli/built-cli.js";

interface Schema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly additionalProperties?: boolean | Schema;
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean;
}

interface Crd {
  readonly spec: {
    readonly versions: readonly {
      readonly name: string;
      readonly schema: { readonly openAPIV3Schema: Schema };
    }[];
  };
}

export interface CrdValidator {
  /** Every problem: ajv's errors and the fields the API server would prune. Empty: valid. */
  problems(object: unknown): string[];
}

export function loadCrdValidator(file: string, version: string): CrdValidator {
  const crd = parse(readFileSync(path.join(repoRoot, "test/fixtures/crds", file), "utf8")) as Crd;
  const found = crd.spec.versions.find((v) => v.name === version);
  if (!found) throw new Error(`${file} has no version ${version}`);
  const schema = found.schema.openAPIV3Schema;
  // x-kubernetes-* keywords are the API server's; ajv need not know them.
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  ajv.addFormat("int32", {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  const validate: ValidateFunction = ajv.compile(schema);
  return {
    problems(object) {
      const problems: string[] = [];
      if (!validate(object)) {
        for (const error of validate.errors ?? []) {
          problems.push(`${error.instancePath || "/"} ${error.message ?? "invalid"}`);
        }
      }
      findPruned(object, schema, "", problems);
      return problems;
    },
  };
}

function findPruned(value: unknown, schema: Schema, at: string, problems: string[]): void {
  if (schema["x-kubernetes-preserve-unknown-fields"] === true) return;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items) {
      value.forEach((item: unknown, i) => {
        findPruned(item, items, `${at}/${i}`, problems);
      });
    }
    return;
  }
  if (typeof value !== "object" || value === null) return;
  // metadata is the API server's ObjectMeta, not described in the CRD.
  if (at === "/metadata") return;
  for (const [key, child] of Object.entries(value)) {
    const known = schema.properties?.[key];
    if (known) {
      findPruned(child, known, `${at}/${key}`, problems);
    } else if (typeof schema.additionalProperties === "object") {
      findPruned(child, schema.additionalProperties, `${at}/${key}`, problems);
    } else if (schema.additionalProperties !== true) {
      problems.push(`${at}/${key} is not in the schema: the API server would prune it`);
    }
  }
}
