/**
 * Runs the BUILT CLI (dist/cli.js) as a child process, as CI and users run it. `npm test`
 * builds first; when dist/ is missing or older than src/ (a lone `vitest run test/cli`), the
 * first test file to get here rebuilds it under a lock while the others wait.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const cliPath = path.join(repoRoot, "dist", "cli.js");
/** The `kubectl-stsguard` bin: the same CLI, named for kubectl's plugin mechanism. */
export const kubectlPluginPath = path.join(repoRoot, "dist", "kubectl-stsguard.js");
export const manifestsDir = path.join(repoRoot, "test", "fixtures", "manifests");

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly stdin?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Run through `sh -c` with this prefix, e.g. `ulimit -f 1;`. */
  readonly shellPrefix?: string;
}

export function runBuiltCli(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  ensureBuilt();
  const env = { PATH: process.env["PATH"] ?? "", HOME: os.tmpdir(), ...options.env };
  const child = options.shellPrefix
    ? spawn(
        "sh",
        ["-c", `${options.shellPrefix} exec "$0" "$@"`, process.execPath, cliPath, ...args],
        {
          cwd: options.cwd ?? manifestsDir,
          env,
        },
      )
    : spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd ?? manifestsDir, env });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(options.stdin ?? "");
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      });
    });
  });
}

/** A fresh directory under the OS temp dir, removed by the returned function. */
export async function makeTempDir(
  prefix = "stsguard-cli-",
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A folder holding `kubectl-stsguard` as npm installs a bin: a link to the built file, which npm
 * makes executable. First on PATH, kubectl finds the plugin there.
 */
export async function makePluginBinDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  ensureBuilt();
  const temp = await makeTempDir("stsguard-plugin-");
  chmodSync(kubectlPluginPath, 0o755);
  symlinkSync(kubectlPluginPath, path.join(temp.dir, "kubectl-stsguard"));
  return temp;
}

let built = false;

function ensureBuilt(): void {
  if (built) return;
  const lock = path.join(repoRoot, "dist", ".stsguard-test-build.lock");
  for (;;) {
    if (!isStale()) break;
    try {
      mkdirSync(path.dirname(lock), { recursive: true });
      mkdirSync(lock);
    } catch {
      // Another test file is building; a lock older than two minutes was left by a crash.
      if (Date.now() - (statOrNull(lock)?.mtimeMs ?? 0) > 120_000)
        rmSync(lock, { recursive: true, force: true });
      spawnSync("sleep", ["0.5"]);
      continue;
    }
    try {
      // Other helpers' unfinished files may not type-check; tsc still emits, so ignore its status.
      spawnSync(
        process.execPath,
        [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
        {
          cwd: repoRoot,
          stdio: "ignore",
        },
      );
      // As `npm run build` does: without it dist/ would load all of @kubernetes/client-node.
      spawnSync(process.execPath, [path.join(repoRoot, "scripts/bundle-kube-client.mjs")], {
        cwd: repoRoot,
        stdio: "ignore",
      });
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
    break;
  }
  built = true;
}

function isStale(): boolean {
  const builtAt = statOrNull(cliPath)?.mtimeMs;
  return builtAt === undefined || newestSource(path.join(repoRoot, "src")) > builtAt;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(
      newest,
      entry.isDirectory() ? newestSource(full) : (statOrNull(full)?.mtimeMs ?? 0),
    );
  }
  return newest;
}

function statOrNull(file: string): { mtimeMs: number } | null {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}
