/**
 * The floors of src/ (docs/architecture.md draws them): a module imports from its own folder,
 * from folders on its own floor, or from floors below; never from above. Folders on one floor
 * form no cycle. The engine (src/policy) imports nothing but itself. The graph is the real one,
 * read from src/ by test/project/import-graph.ts.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/objects.js";
import { readImportGraph, readSpecifiers, type ImportEdge } from "./import-graph.js";

interface Floor {
  readonly name: string;
  /** Folders under src/ (`policy`) and files directly in src/ (`errors.ts`). */
  readonly members: readonly string[];
}

/** Bottom first. A new folder under src/ must be placed here (the test says so). */
const FLOORS: readonly Floor[] = [
  { name: "engine", members: ["policy"] },
  {
    name: "building blocks",
    members: [
      "errors.ts",
      "files",
      "memory",
      "guardrails",
      "namespaces",
      "manifests",
      "statefulsets",
      "report",
      "config",
      "kube",
      "certs",
    ],
  },
  {
    name: "concerns",
    members: [
      "admission",
      "audit",
      "controller",
      "cluster-findings",
      "observability",
      "policy-export",
      "policy-reports",
    ],
  },
  { name: "front-ends", members: ["cli", "server", "cli.ts", "kubectl-stsguard.ts"] },
];

/** npm packages only one folder may import: the rest of src/ goes through it. */
const PACKAGE_OWNERS: Readonly<Record<string, string>> = {
  "@kubernetes/client-node": "kube",
  express: "server",
  commander: "cli",
};

/** `src/audit/judge.ts` → `audit`; `src/errors.ts` → `errors.ts`. */
function memberOf(file: string): string {
  const [top, first] = file.split("/");
  if (top !== "src" || first === undefined) throw new Error(`${file} is not under src/`);
  return first;
}

function floorIndex(floors: readonly Floor[], member: string): number {
  return floors.findIndex((floor) => floor.members.includes(member));
}

/** Imports that reach a higher floor, each as `from:line imports to (floor → floor)`. */
function findUpwardImports(edges: readonly ImportEdge[], floors: readonly Floor[]): string[] {
  const upward: string[] = [];
  for (const edge of edges) {
    if (edge.to === null) continue;
    const from = floorIndex(floors, memberOf(edge.from));
    const to = floorIndex(floors, memberOf(edge.to));
    if (to > from) {
      upward.push(
        `${edge.from}:${edge.line} imports ${edge.to} ` +
          `(${floors[from]?.name ?? "?"} may not import ${floors[to]?.name ?? "?"})`,
      );
    }
  }
  return upward;
}

/** Cycles between folders of one floor, each as `a → b → a`. */
function findFolderCycles(edges: readonly ImportEdge[]): string[] {
  const next = new Map<string, Set<string>>();
  for (const edge of edges) {
    if (edge.to === null) continue;
    const [from, to] = [memberOf(edge.from), memberOf(edge.to)];
    if (from === to) continue;
    const targets = next.get(from) ?? new Set<string>();
    targets.add(to);
    next.set(from, targets);
  }
  const cycles: string[] = [];
  const done = new Set<string>();
  const walk = (member: string, trail: readonly string[]): void => {
    const at = trail.indexOf(member);
    if (at >= 0) {
      cycles.push([...trail.slice(at), member].join(" → "));
      return;
    }
    if (done.has(member)) return;
    for (const target of [...(next.get(member) ?? [])].sort()) walk(target, [...trail, member]);
    done.add(member);
  };
  for (const member of [...next.keys()].sort()) walk(member, []);
  return cycles;
}

const edges = readImportGraph(repoRoot, "src");

describe("the import graph reader", () => {
  it("sees every way a module can be named", () => {
    const text = [
      'import a from "./static.js";',
      'import type { B } from "./type-only.js";',
      'export { c } from "./re-export.js";',
      'export * from "./star.js";',
      'const d = await import("./dynamic.js");',
      'let e: import("./type-query.js").E;',
      'import f = require("./require.js");',
      '// import g from "./in-a-comment.js";',
      'const h = "./in-a-string.js";',
    ].join("\n");
    expect(readSpecifiers("sample.ts", text)).toEqual([
      { specifier: "./static.js", line: 1 },
      { specifier: "./type-only.js", line: 2 },
      { specifier: "./re-export.js", line: 3 },
      { specifier: "./star.js", line: 4 },
      { specifier: "./dynamic.js", line: 5 },
      { specifier: "./type-query.js", line: 6 },
      { specifier: "./require.js", line: 7 },
    ]);
  });

  it("reads the real graph: the admission entry point's imports, dynamic ones in serve", () => {
    const targets = (from: string): (string | null)[] =>
      edges.filter((e) => e.from === from).map((e) => e.to ?? e.specifier);
    expect(targets("src/admission/admit.ts")).toEqual([
      "src/admission/admit-statefulset.ts",
      "src/admission/cached-then-live.ts",
      "src/admission/classify-request.ts",
      "src/admission/deps.ts",
      "src/admission/request-guard.ts",
      "src/admission/types.ts",
      "src/admission/verdict.ts",
      "src/admission/deps.ts",
    ]);
    expect(targets("src/cli/commands/serve.ts")).toContain("src/server/serve.ts");
  });
});

describe("the checks catch what they are for", () => {
  const edge = (from: string, to: string): ImportEdge => ({ from, to, specifier: to, line: 1 });

  it("an upward import", () => {
    expect(
      findUpwardImports(
        [
          edge("src/audit/judge.ts", "src/cli/check-manifests.ts"),
          edge("src/cli/run.ts", "src/audit/judge.ts"),
          edge("src/policy/evaluate.ts", "src/errors.ts"),
        ],
        FLOORS,
      ),
    ).toEqual([
      "src/audit/judge.ts:1 imports src/cli/check-manifests.ts (concerns may not import front-ends)",
      "src/policy/evaluate.ts:1 imports src/errors.ts (engine may not import building blocks)",
    ]);
  });

  it("a cycle between two folders of one floor", () => {
    expect(
      findFolderCycles([
        edge("src/kube/client.ts", "src/statefulsets/source.ts"),
        edge("src/statefulsets/source.ts", "src/kube/client.ts"),
        edge("src/config/config.ts", "src/guardrails/types.ts"),
      ]),
    ).toEqual(["kube → statefulsets → kube"]);
  });
});

describe("the floors of src/", () => {
  it("place every folder and file directly in src/ on exactly one floor", () => {
    const present = readdirSync(path.join(repoRoot, "src")).sort();
    const placed = FLOORS.flatMap((floor) => floor.members);
    expect(placed.filter((m, i) => placed.indexOf(m) !== i)).toEqual([]);
    expect([...placed].sort()).toEqual(present);
  });

  it("no module imports from a floor above its own", () => {
    expect(findUpwardImports(edges, FLOORS)).toEqual([]);
  });

  it("no module below the front-ends imports from cli/ or server/", () => {
    const frontEnds = new Set(["cli", "server", "cli.ts", "kubectl-stsguard.ts"]);
    const reaching = edges.filter(
      (e) => e.to !== null && !frontEnds.has(memberOf(e.from)) && frontEnds.has(memberOf(e.to)),
    );
    expect(reaching.map((e) => `${e.from}:${e.line} ${e.specifier}`)).toEqual([]);
  });

  it("folders import one another without a cycle", () => {
    expect(findFolderCycles(edges)).toEqual([]);
  });

  it("the engine (src/policy) imports only itself: no node: module, no package, no other folder", () => {
    const outside = edges.filter(
      (e) => e.from.startsWith("src/policy/") && !(e.to?.startsWith("src/policy/") ?? false),
    );
    expect(outside.map((e) => `${e.from}:${e.line} ${e.specifier}`)).toEqual([]);
  });

  it.each(Object.entries(PACKAGE_OWNERS))("%s is imported only in src/%s/", (pkg, owner) => {
    const users = edges.filter(
      (e) => (e.specifier === pkg || e.specifier.startsWith(`${pkg}/`)) && e.to === null,
    );
    expect(users.length).toBeGreaterThan(0);
    expect(users.filter((e) => memberOf(e.from) !== owner).map((e) => e.from)).toEqual([]);
  });
});

describe("docs/architecture.md", () => {
  it("draws the same floors as this test, folder by folder", () => {
    const text = readFileSync(path.join(repoRoot, "docs/architecture.md"), "utf8");
    // Rows of its table: | <floor number> <floor name> | `<folder>/` or `<file>` | owns |
    const rows = [...text.matchAll(/^\|\s*(\d) ([a-z -]+?)\s*\|\s*`([^`]+)`\s*\|/gm)].map((m) => ({
      floor: Number(m[1]),
      name: m[2],
      member: (m[3] ?? "").replace(/\/$/, ""),
    }));
    const expected = FLOORS.flatMap((floor, index) =>
      floor.members.map((member) => ({ floor: index, name: floor.name, member })),
    );
    const byMember = (a: { member: string }, b: { member: string }): number =>
      a.member.localeCompare(b.member);
    expect(rows.sort(byMember)).toEqual(expected.sort(byMember));
  });
});
