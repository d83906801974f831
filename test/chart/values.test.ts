import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isMap, isScalar, parseDocument, type YAMLMap } from "yaml";
import { CHART_DIR, lintChart, tryRenderChart, type Values } from "./helm.js";

/** One documented setting of values.yaml: a scalar, a list, or an empty map. */
interface Leaf {
  readonly path: string;
  readonly value: unknown;
  readonly comment: string | undefined;
}

interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly additionalProperties?: boolean | SchemaNode;
}

/** Leaves of values.yaml with the comment right above each key (the map's, for a first key). */
function readValueLeaves(): Leaf[] {
  const doc = parseDocument(readFileSync(join(CHART_DIR, "values.yaml"), "utf8"));
  const leaves: Leaf[] = [];
  const walk = (map: YAMLMap, prefix: string): void => {
    map.items.forEach((pair, index) => {
      if (!isScalar(pair.key)) throw new Error(`non-scalar key under ${prefix}`);
      const path = `${prefix}${String(pair.key.value)}`;
      const comment = pair.key.commentBefore ?? (index === 0 ? map.commentBefore : undefined);
      if (isMap(pair.value) && pair.value.items.length > 0) {
        walk(pair.value, `${path}.`);
      } else {
        const value: unknown = isScalar(pair.value) ? pair.value.value : doc.getIn(path.split("."));
        leaves.push({ path, value: toPlain(value), comment: comment ?? undefined });
      }
    });
  };
  if (!isMap(doc.contents)) throw new Error("values.yaml is not a map");
  walk(doc.contents, "");
  return leaves;
}

function toPlain(value: unknown): unknown {
  if (value !== null && typeof value === "object" && "toJSON" in value) {
    return (value as { toJSON: () => unknown }).toJSON();
  }
  return value;
}

/** Rows of the README's configuration table: `key` → default cell. */
function readReadmeRows(): Map<string, string> {
  const readme = readFileSync(join(CHART_DIR, "README.md"), "utf8");
  const section = readme.split(/^## Configuration$/m)[1] ?? "";
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const cells = /^\| `([^`]+)` \| [^|]+ \| `(.*)` \| .+ \|$/.exec(line);
    if (cells) {
      if (rows.has(cells[1]!)) throw new Error(`README documents ${cells[1]!} twice`);
      rows.set(cells[1]!, cells[2]!);
    }
  }
  return rows;
}

function describesPath(schema: SchemaNode, path: string): boolean {
  let node: SchemaNode | undefined = schema;
  for (const key of path.split(".")) {
    if (node === undefined) return false;
    if (node.properties === undefined) return node.type === "object"; // a free-form map
    node = node.properties[key];
  }
  return node !== undefined;
}

function nestedValue(path: string, value: unknown): Values {
  return path.split(".").reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Values;
}

describe("values.yaml, its schema and the README", () => {
  let leaves: Leaf[];
  let schema: SchemaNode;
  beforeAll(() => {
    leaves = readValueLeaves();
    schema = JSON.parse(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8")) as SchemaNode;
  });

  it("documents every values.yaml setting in the README table, with its default", () => {
    const rows = readReadmeRows();
    const documented = leaves.map((leaf) => [leaf.path, rows.get(leaf.path)]);
    expect(documented).toEqual(leaves.map((leaf) => [leaf.path, JSON.stringify(leaf.value)]));
  });

  it("has no README rows for settings values.yaml does not have", () => {
    const known = new Set(leaves.map((leaf) => leaf.path));
    expect([...readReadmeRows().keys()].filter((key) => !known.has(key))).toEqual([]);
  });

  it("comments every setting in values.yaml", () => {
    expect(leaves.filter((leaf) => !leaf.comment?.trim()).map((leaf) => leaf.path)).toEqual([]);
  });

  it("describes every setting in values.schema.json", () => {
    expect(leaves.filter((leaf) => !describesPath(schema, leaf.path)).map((l) => l.path)).toEqual(
      [],
    );
  });

  it("rejects unknown top-level keys in the schema", () => {
    expect(schema.additionalProperties).toBe(false);
  });
});

describe("helm lint --strict", () => {
  it.each([
    { name: "default values (cert-manager)", values: {} },
    { name: "helm certificates", values: { certificates: { mode: "helm" } } },
    {
      name: "an existing Secret",
      values: {
        certificates: {
          mode: "existingSecret",
          existingSecret: {
            name: "my-tls",
            caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
          },
        },
      },
    },
    {
      name: "a ServiceMonitor and no matchConditions",
      values: {
        serviceMonitor: { enabled: true },
        webhook: { matchConditions: { enabled: false } },
      },
    },
  ])("passes with $name", ({ values }) => {
    const result = lintChart(values);
    expect(result.output).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(result.ok).toBe(true);
  });

  it("fails when the values break the schema", () => {
    const result = lintChart({ webhook: { timeoutSeconds: 31 } });
    expect(result.ok).toBe(false);
    expect(result.output).toContain("webhook.timeoutSeconds: Must be less than or equal to 30");
  });
});

describe("values.schema.json rejects", () => {
  it.each([
    {
      name: "timeoutSeconds 31, above the API server's limit",
      path: "webhook.timeoutSeconds",
      value: 31,
      message: "webhook.timeoutSeconds: Must be less than or equal to 30",
    },
    {
      name: "timeoutSeconds 0",
      path: "webhook.timeoutSeconds",
      value: 0,
      message: "webhook.timeoutSeconds: Must be greater than or equal to 1",
    },
    {
      name: "a failurePolicy the API does not know",
      path: "webhook.failurePolicy.validate",
      value: "Never",
      message: "webhook.failurePolicy.validate: webhook.failurePolicy.validate must be one of",
    },
    {
      name: "an unknown rule id",
      path: "config.rules.no-such-rule",
      value: "error",
      message: "Additional property no-such-rule is not allowed",
    },
    {
      name: "a severity the server does not know",
      path: "config.rules.missing-labels",
      value: "fatal",
      message: "config.rules.missing-labels must be one of",
    },
    {
      name: "a misspelt top-level key",
      path: "replicas",
      value: 3,
      message: "Additional property replicas is not allowed",
    },
    {
      name: "an invalid label prefix",
      path: "config.labels.prefix",
      value: "Not_A_Domain",
      message: "config.labels.prefix: Does not match pattern",
    },
  ])("$name", ({ path, value, message }) => {
    const result = tryRenderChart({ values: nestedValue(path, value) });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(message);
  });
});
