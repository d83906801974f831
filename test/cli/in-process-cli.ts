/**
 * Runs the CLI in this process through runCli, with in-memory streams: the same code as the
 * built CLI without a Node start-up per case. The child-process tests (built-cli.ts) cover
 * what only a real process shows (the bin entry, exit status, pipes, stdin, file limits).
 */
import { Readable } from "node:stream";
import { runCli } from "../../src/cli/run.js";
import type { CliRun } from "./built-cli.js";
import { manifestsDir } from "./built-cli.js";

export async function runInProcess(
  args: readonly string[],
  options: { cwd?: string; stdin?: string; isTTY?: boolean; env?: Record<string, string> } = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stdout: { write: (s: string) => out.push(s), isTTY: options.isTTY ?? false },
    stderr: { write: (s: string) => err.push(s) },
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    cwd: options.cwd ?? manifestsDir,
    env: options.env ?? {},
  });
  return { code, stdout: out.join(""), stderr: err.join("") };
}
