/**
 * stsguard as a kubectl plugin: `kubectl-stsguard` in a folder put first on PATH, as npm links the
 * bin, and the real kubectl (.tools/bin) running `kubectl stsguard <args>` through it.
 */
import { chmodSync, symlinkSync } from "node:fs";
import path from "node:path";
import { inject } from "vitest";
import { run, type CommandResult } from "./cluster.js";
import { kubectlPath, repoRoot } from "./paths.js";
import { makeWorkDir } from "./stsguard.js";

export const pluginPath = path.join(repoRoot, "dist", "kubectl-stsguard.js");

/** A folder holding `kubectl-stsguard`: a link to the built bin, made executable as npm does. */
export async function makePluginDir(): Promise<string> {
  const dir = await makeWorkDir("kubectl-plugin");
  chmodSync(pluginPath, 0o755);
  symlinkSync(pluginPath, path.join(dir, "kubectl-stsguard"));
  return dir;
}

/** `kubectl stsguard <args>` with the plugin folder first on PATH and the given environment. */
export function kubectlStsguard(
  pluginDir: string,
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; cwd?: string } = {},
): Promise<CommandResult> {
  return run(kubectlPath, ["stsguard", ...args], {
    env: {
      PATH: `${pluginDir}${path.delimiter}${process.env["PATH"] ?? ""}`,
      HOME: inject("e2eRunDir"),
      ...options.env,
    },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
}
