/**
 * The built stsguard (dist/cli.js) as a child process against a real cluster: `serve` with
 * development certificates for 127.0.0.1 on free ports, and one-shot CLI commands. Every process
 * is recorded in the run folder so the global teardown can stop it if a file never did.
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { inject } from "vitest";
import { stringify } from "yaml";
import { eventually, run, type CommandResult } from "./cluster.js";
import { cliPath } from "./paths.js";

export interface ServeOptions {
  /** The kubeconfig serve reads the cluster with (a ServiceAccount's, to run as the chart does). */
  readonly kubeconfig: string;
  /** The configuration file's content (YAML text or an object). */
  readonly config?: string | object;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Wait for /readyz before resolving (default true). */
  readonly waitReady?: boolean;
  /** Listen on these ports (default: free ones), e.g. a restart where the webhook was. */
  readonly port?: number;
  readonly metricsPort?: number;
  /** Serve with the certificates in this folder (default: new ones), e.g. a restart's. */
  readonly certsDir?: string;
}

export interface ServeProcess {
  readonly port: number;
  readonly metricsPort: number;
  /** `https://127.0.0.1:<port><path>`, for a webhook's clientConfig.url. */
  url(path: string): string;
  /** Base64 of the CA that signed the serving certificate: clientConfig.caBundle. */
  readonly caBundle: string;
  readonly caFile: string;
  /** The folder of tls.crt, tls.key and ca.crt. */
  readonly certsDir: string;
  readonly configFile: string | null;
  /** Replaces the configuration file (serve reloads it). */
  writeConfig(config: string | object): void;
  /** The JSON log lines so far. */
  logs(): Record<string, unknown>[];
  stderr(): string;
  metrics(): Promise<string>;
  readyz(): Promise<number>;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export async function makeWorkDir(prefix: string): Promise<string> {
  const base = path.join(inject("e2eRunDir"), "work");
  mkdirSync(base, { recursive: true });
  return mkdtemp(path.join(base, `${prefix}-`));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** Runs `stsguard <args>` to completion. */
export function runCli(
  args: readonly string[],
  options: { input?: string; env?: Readonly<Record<string, string>>; cwd?: string } = {},
): Promise<CommandResult> {
  return run(process.execPath, [cliPath, ...args], {
    input: options.input,
    env: { PATH: process.env["PATH"] ?? "", HOME: inject("e2eRunDir"), ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
}

export async function startServe(options: ServeOptions): Promise<ServeProcess> {
  const work = await makeWorkDir("serve");
  const certs = options.certsDir ?? path.join(work, "certs");
  if (options.certsDir === undefined) {
    const made = await runCli(["certs", "--out", certs]);
    if (made.code !== 0) throw new Error(`stsguard certs failed: ${made.stderr}`);
  }
  const port = options.port ?? (await freePort());
  const metricsPort = options.metricsPort ?? (await freePort());
  const configFile = options.config === undefined ? null : path.join(work, "config.yaml");
  const writeConfig = (config: string | object): void => {
    if (!configFile) throw new Error("serve was started without --config");
    const text = typeof config === "string" ? config : stringify(config);
    // Write beside and rename, as a ConfigMap update does: serve never reads half a file.
    writeFileSync(`${configFile}.tmp`, text);
    renameSync(`${configFile}.tmp`, configFile);
  };
  if (options.config !== undefined) writeConfig(options.config);

  const args = [
    cliPath,
    "serve",
    "--kubeconfig",
    options.kubeconfig,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--metrics-port",
    String(metricsPort),
    "--tls-cert",
    path.join(certs, "tls.crt"),
    "--tls-key",
    path.join(certs, "tls.key"),
    "--drain-delay",
    "0s",
    ...(configFile ? ["--config", configFile] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: work,
    env: { PATH: process.env["PATH"] ?? "", HOME: work, ...options.env },
  });
  const { lines, stderr, exited } = watchChild(child);

  const caFile = path.join(certs, "ca.crt");
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const serve: ServeProcess = {
    port,
    metricsPort,
    url: (urlPath) => `https://127.0.0.1:${port}${urlPath}`,
    caBundle: readFileSync(caFile).toString("base64"),
    caFile,
    certsDir: certs,
    configFile,
    writeConfig,
    logs: () => lines,
    stderr,
    metrics: async () => (await fetch(`${metricsUrl}/metrics`)).text(),
    readyz: async () => (await fetch(`${metricsUrl}/readyz`)).status,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    exited,
  };
  if (options.waitReady ?? true) {
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));
    await eventually(
      async () => {
        if (exitCode !== undefined) {
          throw new Error(`serve exited (${String(exitCode)}): ${stderr()}`);
        }
        return (await serve.readyz()) === 200 ? true : undefined;
      },
      "stsguard serve to be ready",
      30_000,
    );
  }
  return serve;
}

/**
 * Follows a stsguard child of the suite: its pid recorded for the global teardown (a test that
 * fails cannot leave it running), its stdout collected as JSON log lines (other lines as
 * `{ text }`), its stderr as text, and its exit.
 */
export function watchChild(child: ChildProcessWithoutNullStreams): {
  readonly lines: Record<string, unknown>[];
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
} {
  recordPid(child);
  const lines: Record<string, unknown>[] = [];
  let partial = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (line.trim() === "") continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ text: line });
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { lines, stderr: () => stderr, exited };
}

function recordPid(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const dir = path.join(inject("e2eRunDir"), "pids");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, String(child.pid));
  writeFileSync(file, String(child.pid));
  child.on("exit", () => {
    rmSync(file, { force: true });
  });
}
