import { Command, CommanderError } from "commander";
import { StsguardError, UsageError } from "../errors.js";
import { auditCommand } from "./commands/audit.js";
import { checkCommand } from "./commands/check.js";
import { controllerCommand } from "./commands/controller.js";
import { certsCommand } from "./commands/certs.js";
import { exportPoliciesCommand } from "./commands/export-policies.js";
import { fixCommand } from "./commands/fix.js";
import { generateCommand } from "./commands/generate.js";
import { serveCommand } from "./commands/serve.js";
import { EXIT_OK, EXIT_USAGE, type CliIo } from "./io.js";
import { toSafeLines } from "./reports/safe-text.js";

/** How the CLI was invoked, for usage and help: `stsguard`, or `kubectl stsguard` as a plugin. */
export type ProgramName = "stsguard" | "kubectl stsguard";

/**
 * Runs the CLI and returns its exit code. Only the bins (src/cli.ts, src/kubectl-stsguard.ts)
 * turn that into the process's exit code.
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  programName: ProgramName = "stsguard",
): Promise<number> {
  let exitCode = EXIT_OK;
  const setExitCode = (code: number): void => {
    exitCode = Math.max(exitCode, code);
  };
  const program = new Command(programName)
    .description("Keeps per-pod StatefulSet Services safe: admission webhook and CI checker.")
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError();
  for (const command of [
    serveCommand(io, setExitCode),
    controllerCommand(io, setExitCode),
    checkCommand(io, setExitCode),
    auditCommand(io, setExitCode),
    fixCommand(io, setExitCode),
    generateCommand(io, setExitCode),
    certsCommand(io, setExitCode),
    exportPoliciesCommand(io, setExitCode),
  ]) {
    program.addCommand(command.exitOverride().configureOutput(program.configureOutput()));
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error: unknown) {
    if (error instanceof CommanderError) {
      // --help and --version end with exit code 0 through this path too.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    // Messages quote paths, names and values from the input.
    if (error instanceof UsageError) {
      io.stderr.write(`stsguard: ${toSafeLines(error.message)}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof StsguardError) {
      io.stderr.write(`stsguard: ${toSafeLines(error.message)}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(
      `stsguard: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_USAGE;
  }
}

/** The process's own streams, directory and environment, for the bins. */
export function processIo(): CliIo {
  // A reader that stops early (`stsguard check … | head`) closes the pipe, and every later write
  // fails. The command still runs to its end and exits with its status; what nobody reads is
  // dropped instead of crashing the process with an unhandled EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
    });
  }
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    cwd: process.cwd(),
    env: process.env,
  };
}
