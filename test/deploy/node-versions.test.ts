// The Node lines stsguard names are the ones it is tested on: package.json `engines`, the Node
// the suite runs on (the `node` devDependency, first on every npm script's PATH), the image's
// base and the GitHub Action's setup-node all name one line, and `serve` on it prints nothing
// that looks like an error (Node 20 printed "unrecognized flag --invocation-count-for-turbofan"
// at every start while engines said ">=20").
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cliPath, repoRoot } from "../cli/built-cli.js";
import { FIRST_NODE_MAJOR_WITH_FLAG } from "../../src/server/jit-tiering.js";

interface PackageJson {
  readonly engines: { readonly node: string };
  readonly devDependencies: Readonly<Record<string, string>>;
}

const pkg = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as PackageJson;
const testedMajor = Number(process.versions.node.split(".")[0]);

/** The majors a caret or exact engines range admits, of the lines that exist or will soon. */
function majorsAdmitted(range: string): number[] {
  const match = /^\^(\d+)(\.\d+){0,2}$/.exec(range.trim());
  if (!match) throw new Error(`engines.node "${range}" is not ^<major>[.minor[.patch]]`);
  return [Number(match[1])];
}

describe("the Node lines stsguard names", () => {
  it("engines names exactly the line the suite runs on", () => {
    expect(majorsAdmitted(pkg.engines.node)).toEqual([testedMajor]);
    expect(pkg.devDependencies["node"]).toMatch(new RegExp(`^\\^${testedMajor}\\.`));
    expect(FIRST_NODE_MAJOR_WITH_FLAG).toBeLessThanOrEqual(testedMajor);
  });

  it("the image and the GitHub Action run that line", async () => {
    const dockerfile = await readFile(join(repoRoot, "Dockerfile"), "utf8");
    const bases = [...dockerfile.matchAll(/^FROM node:(\d+)\./gm)].map((m) => Number(m[1]));
    expect(bases.length).toBeGreaterThan(0);
    expect(new Set(bases)).toEqual(new Set([testedMajor]));
    const action = parse(await readFile(join(repoRoot, "action.yml"), "utf8")) as {
      runs: { steps: { uses?: string; with?: { "node-version"?: number } }[] };
    };
    const setup = action.runs.steps.find((s) => s.uses?.startsWith("actions/setup-node@"));
    expect(setup?.with?.["node-version"]).toBe(testedMajor);
    expect(action.runs.steps.indexOf(setup!)).toBeLessThan(
      action.runs.steps.findIndex((s) => (s as { id?: string }).id === "check"),
    );
  });

  it("serve on it starts and stops without a line on stderr but its banner", async () => {
    // Development certificates go to ./certs: a folder of this test's own.
    const cwd = await mkdtemp(join(tmpdir(), "stsguard-node-versions-"));
    const child = spawn(
      process.execPath,
      [
        cliPath,
        "serve",
        "--manifests",
        join(repoRoot, "examples/manifests"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "off",
        "--drain-delay",
        "0s",
      ],
      { cwd, env: { PATH: process.env["PATH"] ?? "", HOME: cwd } },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      // Once listening, with the source synced (where the V8 flag is set), stop it.
      if (/stsguard webhook: https:/.test(stderr)) setTimeout(() => child.kill("SIGTERM"), 300);
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    await rm(cwd, { recursive: true, force: true });
    expect(code).toBe(0);
    expect(stderr).toMatch(/stsguard webhook: https:\/\/127\.0\.0\.1:\d+/);
    // What V8 and Node print: "Error: unrecognized flag ...", "(node:123) Warning: ...".
    expect(stderr).not.toMatch(/^(Error|Warning|\(node:\d+\))|unrecognized flag|Deprecation/im);
  });
});
