// Issue 20, item 7: `check` and `fix` follow a symbolic link only to somewhere inside the paths
// they were given, and `fix` never writes through one. The built CLI as a child process, over a
// temporary tree with real links.
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, runBuiltCli } from "./built-cli.js";

const FIXABLE = (name: string): string => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  type: LoadBalancer
  selector:
    statefulset.kubernetes.io/pod-name: ${name}
`;

/** A file outside the repository: a secret the manifests' author must not get printed. */
const SECRET = `apiVersion: v1
kind: Service
metadata:
  name: db-0
  annotations:
    token: s3cr3t-token-value
spec:
  type: LoadBalancer
  selector:
    statefulset.kubernetes.io/pod-name: not a pod name
`;

let work: { dir: string; remove: () => Promise<void> };
let repo: string;
let outside: string;

beforeEach(async () => {
  work = await makeTempDir();
  repo = path.join(work.dir, "repo");
  outside = path.join(work.dir, "outside");
  await mkdir(path.join(repo, "manifests", "sub"), { recursive: true });
  await mkdir(path.join(outside, "more"), { recursive: true });
  await writeFile(path.join(repo, "manifests", "web.yaml"), FIXABLE("web-0"));
  await writeFile(path.join(repo, "manifests", "sub", "api.yaml"), FIXABLE("api-0"));
  await writeFile(path.join(outside, "secret.yaml"), SECRET);
  await writeFile(path.join(outside, "more", "cache.yaml"), FIXABLE("cache-0"));
  // Out of the tree: a file and a directory.
  await symlink("../../outside/secret.yaml", path.join(repo, "manifests", "leak.yaml"));
  await symlink("../../outside/more", path.join(repo, "manifests", "more"));
  // Within the tree: a second name for a file that is read anyway.
  await symlink("sub/api.yaml", path.join(repo, "manifests", "api-alias.yaml"));
});

afterEach(async () => {
  await work.remove();
});

describe("stsguard check", () => {
  it("refuses links out of the tree it was given (exit 2), reads nothing behind them, and follows links within it once", async () => {
    const result = await runBuiltCli(["check", "manifests"], { cwd: repo });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `manifests/leak.yaml: error: skipped manifests/leak.yaml: a symbolic link to ${path.join(outside, "secret.yaml")}, outside the paths given (manifests); links are followed only within them: give the target's path too, or replace the link with the file`,
    );
    expect(result.stderr).toContain(
      `manifests/more: error: skipped manifests/more: a symbolic link to ${path.join(outside, "more")}, outside the paths given (manifests)`,
    );
    const everything = result.stdout + result.stderr;
    expect(everything).not.toContain("s3cr3t");
    expect(everything).not.toContain("db-0");
    expect(everything).not.toContain("cache-0");
    // The alias is the same file: read once, so no duplicate-object error.
    expect(everything).not.toContain("duplicate");
    expect(result.stdout).toContain("manifests/sub/api.yaml");
    expect(result.stdout).toContain("manifests/web.yaml");
  });

  it("follows them when their targets are among the paths given", async () => {
    const result = await runBuiltCli(["check", "manifests", "../outside", "-o", "json"], {
      cwd: repo,
    });
    expect(result.stderr).not.toContain("skipped");
    const names = (JSON.parse(result.stdout) as { findings: { name: string }[] }).findings.map(
      (f) => f.name,
    );
    expect(new Set(names)).toEqual(new Set(["web-0", "api-0", "db-0", "cache-0"]));
    expect(result.code).toBe(1);
  });

  it("reads a link named on the command line: whoever runs it chose that file", async () => {
    const result = await runBuiltCli(["check", "manifests/leak.yaml"], { cwd: repo });
    expect(result.stderr).not.toContain("skipped");
    expect(result.stdout).toContain("malformed-pod-name");
  });
});

describe("stsguard fix", () => {
  it("fixes the files of the tree, leaves every link and everything outside untouched, and exits 2", async () => {
    const secretBefore = await stat(path.join(outside, "secret.yaml"));
    const result = await runBuiltCli(["fix", "manifests"], { cwd: repo });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("manifests/leak.yaml: error: skipped manifests/leak.yaml");
    expect(result.stderr).toContain("manifests/more: error: skipped manifests/more");
    expect(result.stdout).toContain("fixed manifests/web.yaml: 1 Service\n");
    expect(result.stdout).toContain("fixed manifests/sub/api.yaml: 1 Service\n");
    expect(await readFile(path.join(repo, "manifests", "web.yaml"), "utf8")).toContain(
      "externalTrafficPolicy: Local",
    );
    // Outside the tree: not a byte changed.
    expect(await readFile(path.join(outside, "secret.yaml"), "utf8")).toBe(SECRET);
    expect((await stat(path.join(outside, "secret.yaml"))).mtimeMs).toBe(secretBefore.mtimeMs);
    expect(await readFile(path.join(outside, "more", "cache.yaml"), "utf8")).toBe(
      FIXABLE("cache-0"),
    );
    // Every link is still the same link.
    for (const [link, target] of [
      ["leak.yaml", "../../outside/secret.yaml"],
      ["more", "../../outside/more"],
      ["api-alias.yaml", "sub/api.yaml"],
    ] as const) {
      const file = path.join(repo, "manifests", link);
      expect((await lstat(file)).isSymbolicLink()).toBe(true);
      expect(await readlink(file)).toBe(target);
    }
  });

  it("refuses a link named on the command line, and writes nothing through it", async () => {
    await symlink("outside/more/cache.yaml", path.join(work.dir, "cache-link.yaml"));
    const result = await runBuiltCli(["fix", "cache-link.yaml"], { cwd: work.dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `cache-link.yaml: error: skipped cache-link.yaml: a symbolic link to ${path.join(outside, "more", "cache.yaml")}; fix never writes through a link: run it on the target instead`,
    );
    expect(result.stdout).toBe("");
    expect(await readFile(path.join(outside, "more", "cache.yaml"), "utf8")).toBe(
      FIXABLE("cache-0"),
    );
    expect((await lstat(path.join(work.dir, "cache-link.yaml"))).isSymbolicLink()).toBe(true);
  });

  it("fixes the target when it is named itself", async () => {
    const result = await runBuiltCli(["fix", "outside/more/cache.yaml"], { cwd: work.dir });
    expect(result.code).toBe(0);
    expect(await readFile(path.join(outside, "more", "cache.yaml"), "utf8")).toContain(
      "externalTrafficPolicy: Local",
    );
  });
});
