/**
 * `stsguard serve` as the BUILT CLI in a child process, in a fresh directory with development
 * certificates: for tests that signal the process or watch it from outside. By default it serves
 * `--manifests` from a copy of examples/manifests; `layout` lays out another directory instead.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir } from "../certs/tls-probes.js";
import { repoRoot } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";

export interface ServeProcess {
  readonly child: ChildProcess;
  /** The working directory: examples/manifests (or the layout's files), certs/ and home/. */
  readonly dir: string;
  readonly port: number;
  readonly metricsPort: number;
  /** The development CA the server's certificate is signed by. */
  readonly ca: string;
  /** Everything written so far (JSON log lines on stdout, the banner on stderr). */
  readonly output: () => { stdout: string; stderr: string };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the process if it still runs and removes its directory. */
  readonly dispose: () => Promise<void>;
}

/** The files serve reads, written into its working directory, and the flags that name them. */
export interface ServeLayout {
  /** Where StatefulSets come from, e.g. `["--kubeconfig", "kubeconfig.yaml"]`. */
  readonly sourceArgs: readonly string[];
  readonly prepare: (dir: string) => Promise<void>;
}

const EXAMPLES_LAYOUT: ServeLayout = {
  sourceArgs: ["--manifests", "examples/manifests"],
  prepare: (dir) =>
    cp(join(repoRoot, "examples", "manifests"), join(dir, "examples", "manifests"), {
      recursive: true,
    }),
};

export async function startServeProcess(
  extraArgs: readonly string[],
  env: Record<string, string> = {},
  layout: ServeLayout = EXAMPLES_LAYOUT,
): Promise<ServeProcess> {
  const cli = join(repoRoot, "dist", "cli.js");
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const temp = await makeTempDir("serve-process");
  await layout.prepare(temp.dir);
  await mkdir(join(temp.dir, "home"));
  // Ports through the environment, the rest through flags: both must work.
  const child = spawn(
    process.execPath,
    [cli, "serve", ...layout.sourceArgs, "--host", "127.0.0.1", ...extraArgs],
    {
      cwd: temp.dir,
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        HOME: join(temp.dir, "home"),
        STSGUARD_PORT: "0",
        STSGUARD_METRICS_PORT: "0",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      resolve({ code, signal });
    });
  });
  const dispose = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    await temp.remove();
  };
  try {
    await waitFor(
      "the start banner",
      () => /Stop with Ctrl-C/.test(stderr) || child.exitCode !== null,
      20_000,
    );
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
  } catch (error: unknown) {
    await dispose();
    throw error;
  }
  const port = Number(/stsguard webhook: https:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
  const metricsPort = Number(/metrics: +http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stderr)?.[1]);
  const ca = await readFile(join(temp.dir, "certs", "ca.crt"), "utf8");
  return {
    child,
    dir: temp.dir,
    port,
    metricsPort,
    ca,
    output: () => ({ stdout, stderr }),
    exited,
    dispose,
  };
}
