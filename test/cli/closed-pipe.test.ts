import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cliPath, manifestsDir, runBuiltCli } from "./built-cli.js";

/** Runs the built CLI with its standard output closed at once, as `stsguard … | head -0` does. */
function runWithStdoutClosed(
  args: readonly string[],
): Promise<{ code: number | null; stderr: string }> {
  return runBuiltCli(["--version"]).then(
    () =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [cliPath, ...args], { cwd: manifestsDir });
        child.stdout.destroy();
        let stderr = "";
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (code) => {
          resolve({ code, stderr });
        });
      }),
  );
}

describe("a reader that closes the pipe early", () => {
  it("help: no EPIPE stack trace, exit 0", async () => {
    expect(await runWithStdoutClosed(["serve", "--help"])).toEqual({ code: 0, stderr: "" });
  });

  it("check: still finishes and exits with its status (findings: 1)", async () => {
    const run = await runWithStdoutClosed(["check", "--output", "json", "rules"]);
    expect(run.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(run.code).toBe(1);
  });
});
