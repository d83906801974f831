import { describe, expect, it } from "vitest";
import {
  applyTextEdits,
  diffFixedFields,
  planYamlEdits,
  type PatchTree,
} from "../../src/cli/fix-edits.js";
import { parseManifestText } from "../../src/manifests/parse.js";

const LABELS: PatchTree = {
  metadata: { labels: { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": "0" } },
};

/** Applies a tree to a Service whose `apiVersion` and `kind` lines are left out of the cases. */
function fix(body: string, tree: PatchTree, kind = "Service"): string {
  const head = `apiVersion: v1\nkind: ${kind}\n`;
  const text = head + body;
  const parsed = parseManifestText(text, { file: "t.yaml", absolutePath: undefined }, "default");
  const doc = parsed.documents.find((d) => d.kind === "Service");
  if (!doc) throw new Error("no Service in the case");
  const fixed = applyTextEdits(text, planYamlEdits(text, doc.yaml, doc.basePath, tree));
  expect(fixed.startsWith(head)).toBe(true);
  return fixed.slice(head.length);
}

describe("planYamlEdits", () => {
  const rows: { name: string; before: string; after: string; tree: PatchTree; kind?: string }[] = [
    {
      name: "adds a labels block after the last key of metadata",
      before: "metadata:\n  name: web-0\nspec: {}\n",
      after:
        'metadata:\n  name: web-0\n  labels:\n    stsguard.io/statefulset: web\n    stsguard.io/ordinal: "0"\nspec: {}\n',
      tree: LABELS,
    },
    {
      name: "follows a four-space indentation",
      before: "metadata:\n    name: web-0\n",
      after:
        'metadata:\n    name: web-0\n    labels:\n        stsguard.io/statefulset: web\n        stsguard.io/ordinal: "0"\n',
      tree: LABELS,
    },
    {
      name: "fills `labels:` that has no value",
      before: "metadata:\n  name: web-0\n  labels: # none yet\nspec: {}\n",
      after:
        'metadata:\n  name: web-0\n  labels: # none yet\n    stsguard.io/statefulset: web\n    stsguard.io/ordinal: "0"\nspec: {}\n',
      tree: LABELS,
    },
    {
      name: "replaces `labels: null` with a flow mapping",
      before: "metadata:\n  name: web-0\n  labels: null\n",
      after:
        'metadata:\n  name: web-0\n  labels: {stsguard.io/statefulset: web, stsguard.io/ordinal: "0"}\n',
      tree: LABELS,
    },
    {
      name: "fills an empty flow mapping",
      before: "metadata: {name: web-0, labels: {}}\n",
      after:
        'metadata: {name: web-0, labels: {stsguard.io/statefulset: web, stsguard.io/ordinal: "0"}}\n',
      tree: LABELS,
    },
    {
      name: "creates metadata when there is none, at the end of the object",
      before: "spec:\n  type: NodePort\n",
      after:
        'spec:\n  type: NodePort\nmetadata:\n  labels:\n    stsguard.io/statefulset: web\n    stsguard.io/ordinal: "0"\n',
      tree: LABELS,
    },
    {
      name: "adds a line to a file without a final newline",
      before: "spec:\n  type: NodePort",
      after: "spec:\n  type: NodePort\n  externalTrafficPolicy: Local\n",
      tree: { spec: { externalTrafficPolicy: "Local" } },
    },
    {
      name: "replaces a plain scalar, quoting values that would read as another type",
      before: "metadata:\n  labels:\n    stsguard.io/ordinal: 7 # was a number\n",
      after: 'metadata:\n  labels:\n    stsguard.io/ordinal: "0" # was a number\n',
      tree: { metadata: { labels: { "stsguard.io/ordinal": "0" } } },
    },
    {
      name: "keeps double quotes, and puts a value after a bare key",
      before: 'spec:\n  externalTrafficPolicy:\nmetadata:\n  labels:\n    a: "x"\n',
      after: 'spec:\n  externalTrafficPolicy: Local\nmetadata:\n  labels:\n    a: "y"\n',
      tree: { spec: { externalTrafficPolicy: "Local" }, metadata: { labels: { a: "y" } } },
    },
    {
      name: "adds keys to a mapping inside a sequence item at its column",
      before: "items:\n  - apiVersion: v1\n    kind: Service\n    spec:\n      type: NodePort\n",
      after:
        "items:\n  - apiVersion: v1\n    kind: Service\n    spec:\n      type: NodePort\n      externalTrafficPolicy: Local\n",
      tree: { spec: { externalTrafficPolicy: "Local" } },
      kind: "List",
    },
  ];

  it.each(rows)("$name", ({ before, after, tree, kind }) => {
    expect(fix(before, tree, kind)).toBe(after);
  });

  it("turns an aliased label map into a merge, leaving the anchored map to the objects sharing it", () => {
    const text = "x: &common {app: web}\nmetadata:\n  labels: *common\n";
    expect(fix(text, { metadata: { labels: { app: "web", tier: "db" } } })).toBe(
      "x: &common {app: web}\nmetadata:\n  labels: {<<: *common, app: web, tier: db}\n",
    );
  });

  it("refuses labels that are not a mapping", () => {
    expect(() => fix("metadata:\n  labels: [a, b]\n", LABELS)).toThrow(/labels is not a mapping/);
  });
});

describe("diffFixedFields", () => {
  it("keeps only the policy and the labels that are new or differ", () => {
    const original = { metadata: { labels: { a: "1", b: "2" } }, spec: { type: "NodePort" } };
    const fixed = {
      metadata: { labels: { a: "1", b: "3", c: "4" } },
      spec: { type: "NodePort", externalTrafficPolicy: "Local" },
    };
    expect(diffFixedFields(original, fixed)).toEqual({
      spec: { externalTrafficPolicy: "Local" },
      metadata: { labels: { b: "3", c: "4" } },
    });
  });

  it("is null when the engine returned the object itself", () => {
    const original = { spec: {} };
    expect(diffFixedFields(original, original)).toBeNull();
  });
});
