import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isDocument, isNode } from "yaml";
import { compactCopy } from "../../src/manifests/detach.js";
import { readManifestObjects, readManifests } from "../../src/manifests/read.js";
import type { FieldPath, PositionAnchor } from "../../src/manifests/types.js";
import { makeTempDir } from "../cli/built-cli.js";

// `check` reads with readManifestObjects, which drops each YAML tree as soon as its object is
// taken. It must answer exactly as readManifests (which keeps the trees, for `fix`) does.

const FILES: Record<string, string> = {
  "services.yaml": [
    "# leading comment",
    "apiVersion: v1",
    "kind: Service",
    "metadata:",
    "  name: web-0",
    "  labels: {app: web}",
    "spec:",
    "  type: LoadBalancer",
    "  externalTrafficPolicy: Cluster",
    "  selector:",
    "    statefulset.kubernetes.io/pod-name: web-0",
    "    app: web",
    "  ports: [{port: 80}]",
    "---",
    "apiVersion: v1",
    "kind: Service",
    "metadata: {name: web-1}",
    "spec:",
    "  externalIPs: [10.0.0.1]",
    "  selector: {statefulset.kubernetes.io/pod-name: web-1}",
    "",
  ].join("\n"),
  "anchors.yaml": [
    "base: &base",
    "  statefulset.kubernetes.io/pod-name: web-7",
    "apiVersion: v1",
    "kind: Service",
    "metadata: {name: merged}",
    "spec:",
    "  selector:",
    "    <<: *base",
    "",
  ].join("\n"),
  "list.yaml": [
    "apiVersion: v1",
    "kind: List",
    "items:",
    "- apiVersion: apps/v1",
    "  kind: StatefulSet",
    "  metadata: {name: web, namespace: data}",
    "  spec:",
    "    replicas: .inf",
    "    selector: {matchLabels: {app: web}}",
    "- 42",
    "- apiVersion: v1",
    "  kind: Namespace",
    "  metadata: {name: data, labels: {team: a}}",
    "",
  ].join("\n"),
  "duplicate.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web-0\n",
  "broken.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n---\nkind: Service\n",
  "bom.json": `\uFEFF${JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } })}`,
};

/** Paths findings, duplicates and reports ask for, and some only the re-parse can answer. */
const QUERIES: readonly (readonly [FieldPath, PositionAnchor])[] = [
  [["metadata", "name"], "value"],
  [["metadata", "name"], "key"],
  [["metadata", "labels"], "key"],
  [["metadata"], "key"],
  [["apiVersion"], "key"],
  [["spec"], "key"],
  [["spec", "type"], "key"],
  [["spec", "externalIPs"], "key"],
  [["spec", "externalTrafficPolicy"], "key"],
  [["spec", "replicas"], "key"],
  [["spec", "selector", "statefulset.kubernetes.io/pod-name"], "value"],
  [["spec", "selector", "app"], "value"],
  [["spec", "selector", "missing"], "value"],
  [["spec", "ports", 0, "port"], "value"],
  [["spec", "externalIPs", 0], "value"],
  [["kind"], "value"],
  [[], "key"],
];

let work: { dir: string; remove: () => Promise<void> };

beforeAll(async () => {
  work = await makeTempDir();
  for (const [name, text] of Object.entries(FILES))
    await writeFile(path.join(work.dir, name), text);
});

afterAll(async () => {
  await work.remove();
});

describe("readManifestObjects (check's reader: no YAML trees kept)", () => {
  it("reads the same objects and problems, and places every path where readManifests does", async () => {
    const options = { cwd: work.dir, defaultNamespace: "team" };
    const withTrees = await readManifests(["."], options);
    const detached = await readManifestObjects(["."], options);
    expect(detached.problems).toEqual(withTrees.problems);
    expect(detached.documents).toHaveLength(withTrees.documents.length);
    expect(detached.documents.length).toBeGreaterThan(5);
    detached.documents.forEach((doc, i) => {
      const tree = withTrees.documents[i];
      if (!tree) throw new Error(`document ${i} missing`);
      const fields = ["file", "absolutePath", "index", "itemIndex", "kind", "name"] as const;
      for (const field of [...fields, "apiVersion", "namespace", "object"] as const) {
        expect(doc[field]).toEqual(tree[field]);
      }
      for (const [fieldPath, anchor] of QUERIES) {
        expect(doc.locate(fieldPath, anchor), `${doc.file} ${fieldPath.join(".")}`).toEqual(
          tree.locate(fieldPath, anchor),
        );
      }
    });
  });

  it("keeps no YAML document or node in what it returns", async () => {
    const { documents } = await readManifestObjects(["."], { cwd: work.dir });
    const found: string[] = [];
    const visit = (value: unknown, where: string, seen: Set<unknown>): void => {
      if (typeof value !== "object" || value === null || seen.has(value)) return;
      seen.add(value);
      if (isDocument(value) || isNode(value)) found.push(where);
      for (const [key, child] of Object.entries(value)) visit(child, `${where}.${key}`, seen);
    };
    documents.forEach((doc, i) => {
      visit(doc, `documents[${i}]`, new Set());
    });
    expect(found).toEqual([]);
    expect(documents.some((doc) => "yaml" in doc)).toBe(false);
  });
});

describe("compactCopy", () => {
  it("copies plain JSON values into equal, separate objects", () => {
    const value = { a: [1, "x", true, null, { b: -1.5 }], ["__proto__"]: { c: 1 } };
    Object.defineProperty(value, "__proto__", {
      value: { c: 1 },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const copy = compactCopy(value);
    expect(copy).not.toBe(value);
    expect(copy).toEqual(value);
    expect(Object.keys(copy as object)).toEqual(["a", "__proto__"]);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
  });

  it.each([
    ["a non-finite number", { spec: { replicas: Number.POSITIVE_INFINITY } }],
    ["NaN", [Number.NaN]],
    ["negative zero", { n: -0 }],
    [
      "a value shared through an alias",
      (() => {
        const shared = { a: 1 };
        return { x: shared, y: shared };
      })(),
    ],
    [
      "a cycle",
      (() => {
        const cycle: Record<string, unknown> = {};
        cycle["self"] = cycle;
        return cycle;
      })(),
    ],
    ["a non-plain object", { at: new Date(0) }],
  ])("keeps %s as it was (a JSON round trip would change it)", (_name, value) => {
    expect(compactCopy(value)).toBe(value);
  });
});
