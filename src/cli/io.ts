/** The streams and environment a CLI run works with; tests pass their own. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown; isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown; isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes shared by every command (DESIGN.md): 0 clean, 1 findings, 2 usage or input errors. */
export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;

/** A command's action reports its exit code through this instead of calling process.exit. */
export type SetExitCode = (code: number) => void;
