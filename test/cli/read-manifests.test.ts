import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifests } from "../../src/manifests/read.js";
import { makeTempDir } from "./built-cli.js";

let work: { dir: string; remove: () => Promise<void> };

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web-0
spec:
  selector:
    statefulset.kubernetes.io/pod-name: web-0
`;

beforeAll(async () => {
  work = await makeTempDir();
  const tree: Record<string, string> = {
    "a/one.yaml": SERVICE,
    "a/b/two.yml": SERVICE.replace("name: web-0", "name: web-1").replace("namespace", ""),
    "a/b/three.json": JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c" },
    }),
    "a/ignored.txt": SERVICE,
    "bom.yaml": `\uFEFF${SERVICE.replace("web-0", "bom-0")}`,
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
    "typed-list.yaml": [
      "apiVersion: v1",
      "kind: ServiceList",
      "items:",
      "  - apiVersion: v1",
      "    kind: Service",
      "    metadata: {name: listed, namespace: ns1}",
      "",
    ].join("\n"),
  };
  for (const [file, text] of Object.entries(tree)) {
    await mkdir(path.dirname(path.join(work.dir, file)), { recursive: true });
    await writeFile(path.join(work.dir, file), text);
  }
  // A symbolic link back up the tree must not make the walk loop.
  await symlink("..", path.join(work.dir, "a", "b", "loop"));
});

afterAll(async () => {
  await work.remove();
});

describe("readManifests", () => {
  it("walks directories recursively in name order, reading .yaml, .yml and .json only, each file once", async () => {
    const { documents, problems } = await readManifests(["a", "a/one.yaml"], { cwd: work.dir });
    expect(problems).toEqual([]);
    expect(documents.map((d) => [d.file, d.kind, d.name])).toEqual([
      ["a/b/three.json", "ConfigMap", "c"],
      ["a/b/two.yml", "Service", "web-1"],
      ["a/one.yaml", "Service", "web-0"],
    ]);
  });

  const positions = [
    {
      name: "a selector value",
      file: "a/one.yaml",
      path: ["spec", "selector", "statefulset.kubernetes.io/pod-name"],
      anchor: "value" as const,
      at: { line: 7, column: 41 },
    },
    {
      name: "a key",
      file: "a/one.yaml",
      path: ["metadata"],
      anchor: "key" as const,
      at: { line: 3, column: 1 },
    },
    {
      name: "the deepest existing field of a missing path",
      file: "a/one.yaml",
      path: ["spec", "externalTrafficPolicy"],
      anchor: "key" as const,
      at: { line: 5, column: 1 },
    },
    {
      name: "a value reached through a << merge key, where its text is",
      file: "anchors.yaml",
      path: ["spec", "selector", "statefulset.kubernetes.io/pod-name"],
      anchor: "value" as const,
      at: { line: 2, column: 39 },
    },
    {
      name: "a field after a byte order mark",
      file: "bom.yaml",
      path: ["metadata", "name"],
      anchor: "value" as const,
      at: { line: 4, column: 9 },
    },
  ];
  it.each(positions)("locates $name (1-based line and column)", async (row) => {
    const { documents } = await readManifests([row.file], { cwd: work.dir });
    const doc = documents.find((d) => d.kind === "Service");
    expect(doc?.locate(row.path, row.anchor)).toEqual(row.at);
  });

  it("expands typed lists (ServiceList) and keeps each item's own namespace", async () => {
    const { documents } = await readManifests(["typed-list.yaml"], {
      cwd: work.dir,
      defaultNamespace: "ci",
    });
    expect(documents.map((d) => [d.kind, d.name, d.namespace, d.itemIndex, d.basePath])).toEqual([
      ["Service", "listed", "ns1", 0, ["items", 0]],
    ]);
    expect(documents[0]?.locate(["metadata"], "key")).toEqual({ line: 6, column: 5 });
  });

  it("puts objects without a namespace in the default namespace given", async () => {
    const { documents } = await readManifests(["a/one.yaml"], {
      cwd: work.dir,
      defaultNamespace: "prod",
    });
    expect(documents[0]?.namespace).toBe("prod");
  });

  it("reads - from the stdin stream given, as <stdin>", async () => {
    const { documents } = await readManifests(["-"], {
      cwd: work.dir,
      stdin: Readable.from([SERVICE]),
    });
    expect(documents.map((d) => [d.file, d.absolutePath, d.name])).toEqual([
      ["<stdin>", undefined, "web-0"],
    ]);
  });

  it("names an unreadable path and still reads the others", async () => {
    const { documents, problems } = await readManifests(["missing.yaml", "a/one.yaml"], {
      cwd: work.dir,
    });
    expect(problems).toEqual([
      {
        file: "missing.yaml",
        severity: "error",
        message: "cannot read missing.yaml: no such file or directory",
      },
    ]);
    expect(documents).toHaveLength(1);
  });

  it("gives absolute paths for files outside the working directory", async () => {
    const { documents } = await readManifests([path.join(work.dir, "a/one.yaml")], { cwd: "/" });
    expect(documents[0]?.file).toBe(path.join(work.dir, "a/one.yaml").slice(1));
    const outside = await readManifests([path.join(work.dir, "a/one.yaml")], {
      cwd: path.join(work.dir, "a/b"),
    });
    expect(outside.documents[0]?.file).toBe(path.join(work.dir, "a/one.yaml"));
  });
});
