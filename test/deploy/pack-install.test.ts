import { spawn } from "node:child_process";
import { once } from "node:events";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadFixture, repoRoot } from "../helpers/objects.js";
import { makeTestCertificates } from "../helpers/tls.js";

/**
 * No Docker engine runs here, so this reproduces the image's runtime instead: the npm package
 * installed with production dependencies only into an empty directory, `stsguard serve` run
 * from it with mounted certificates as the chart does, and nothing written inside it.
 * Needs dist/ (`npm test` builds first) and the npm registry (npm's cache makes it quick).
 */

const INSTALL_TIMEOUT_MS = 120_000;

interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The parent's environment minus npm's and stsguard's own settings, which must not leak in. */
function buildCleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // npm test exports npm_config_local_prefix=<repo>: a child npm would install into the repo.
    if (/^(npm_|STSGUARD_|NODE_PATH$|NODE_OPTIONS$)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CommandResult> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: "pipe" });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  try {
    const [code] = (await once(child, "exit")) as [number | null];
    return {
      code,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Every path under `dir` with its type, size, mode and mtime: any write changes it. */
async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const snapshot = new Map<string, string>();
  const entries = await readdir(dir, { recursive: true });
  for (const entry of [".", ...entries].sort()) {
    const stats = await lstat(join(dir, entry));
    const type = stats.isDirectory() ? "dir" : stats.isSymbolicLink() ? "link" : "file";
    snapshot.set(entry, `${type} ${stats.size} ${stats.mode} ${stats.mtimeMs}`);
  }
  return snapshot;
}

function getStatus(url: string, ca: string): Promise<{ status: number; body: string }> {
  const request = url.startsWith("https:") ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

function postJson(
  url: string,
  ca: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: "POST",
        ca,
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          try {
            const json: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            resolve({ status: res.statusCode ?? 0, json });
          } catch (error: unknown) {
            reject(new Error(`${url} did not answer JSON`, { cause: error }));
          }
        });
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

const STATEFULSET_MANIFEST = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  serviceName: web
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
`;

interface Installed {
  readonly root: string;
  readonly installDir: string;
  readonly packedFiles: readonly string[];
  /** Every directory and file of the install (node_modules included), relative to installDir. */
  readonly tree: readonly string[];
}

interface Serving {
  readonly port: number;
  readonly metricsPort: number;
  readonly caCert: string;
  readonly child: ReturnType<typeof spawn>;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

let installed: Installed | undefined;
let serving: Serving | undefined;
let snapshotBefore: Map<string, string> | undefined;

async function packAndInstall(): Promise<Installed> {
  const root = await mkdtemp(join(tmpdir(), "stsguard-pack-"));
  const packDir = join(root, "pack");
  const installDir = join(root, "app");
  await mkdir(packDir);
  await mkdir(installDir);
  const env = buildCleanEnv({});
  const pack = await runCommand(
    "npm",
    ["pack", "--json", "--ignore-scripts", "--pack-destination", packDir],
    { cwd: repoRoot, env, timeoutMs: INSTALL_TIMEOUT_MS },
  );
  expect(pack.code, pack.stderr).toBe(0);
  const [packed] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  await writeFile(
    join(installDir, "package.json"),
    `${JSON.stringify({ name: "stsguard-runtime", private: true }, null, 2)}\n`,
  );
  // The image's runtime stage installs the same way: production only, no install scripts.
  const install = await runCommand(
    "npm",
    [
      "install",
      "--omit=dev",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--prefix",
      installDir,
      join(packDir, packed.filename),
    ],
    { cwd: installDir, env, timeoutMs: INSTALL_TIMEOUT_MS },
  );
  expect(install.code, install.stderr).toBe(0);
  return {
    root,
    installDir,
    packedFiles: packed.files.map((f) => f.path),
    tree: await readdir(installDir, { recursive: true }),
  };
}

/** Starts the installed `stsguard serve` as the chart runs it: mounted certificates, config dir. */
async function startInstalledServe(install: Installed): Promise<Serving> {
  const tlsDir = join(install.root, "tls");
  const manifestsDir = join(install.root, "manifests");
  const tmp = join(install.root, "tmp");
  for (const dir of [tlsDir, manifestsDir, tmp]) await mkdir(dir);
  const certificates = await makeTestCertificates();
  await writeFile(join(tlsDir, "tls.crt"), certificates.cert);
  await writeFile(join(tlsDir, "tls.key"), certificates.key, { mode: 0o600 });
  await writeFile(join(manifestsDir, "web.yaml"), STATEFULSET_MANIFEST);

  const child = spawn(
    join(install.installDir, "node_modules", ".bin", "stsguard"),
    [
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--metrics-port",
      "0",
      "--tls-cert",
      join(tlsDir, "tls.crt"),
      "--tls-key",
      join(tlsDir, "tls.key"),
      "--manifests",
      manifestsDir,
    ],
    // The image's working directory is the (read-only) install; only TMPDIR is writable.
    { cwd: install.installDir, env: buildCleanEnv({ NODE_ENV: "production", TMPDIR: tmp }) },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const listening = new Promise<{ port: number; metricsPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`serve did not log "listening" in 20 s:\n${stdout}\n${stderr}`));
    }, 20_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      for (const line of stdout.split("\n")) {
        if (!line.includes("stsguard webhook listening")) continue;
        const record = JSON.parse(line) as { port: number; metricsPort: number };
        clearTimeout(timer);
        resolve({ port: record.port, metricsPort: record.metricsPort });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${String(code)} before listening:\n${stderr}`));
    });
  });
  const ports = await listening;
  return {
    ...ports,
    caCert: certificates.caCert,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

function readDevDependencies(): Promise<{ name: string; devOnly: boolean }[]> {
  return Promise.all([
    readFile(join(repoRoot, "package.json"), "utf8"),
    readFile(join(repoRoot, "package-lock.json"), "utf8"),
  ]).then(([pkgText, lockText]) => {
    const pkg = JSON.parse(pkgText) as { devDependencies: Record<string, string> };
    const lock = JSON.parse(lockText) as { packages: Record<string, { dev?: boolean }> };
    // A devDependency that some production dependency also needs (e.g. @types/node) may stay.
    return Object.keys(pkg.devDependencies).map((name) => ({
      name,
      devOnly: lock.packages[`node_modules/${name}`]?.dev === true,
    }));
  });
}

describe("the npm package installed with production dependencies only (the image's runtime)", () => {
  beforeAll(async () => {
    installed = await packAndInstall();
    snapshotBefore = await snapshotTree(installed.installDir);
    serving = await startInstalledServe(installed);
  }, INSTALL_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    if (serving && serving.child.exitCode === null && serving.child.signalCode === null) {
      serving.child.kill("SIGKILL");
      await once(serving.child, "exit");
    }
    if (installed) await rm(installed.root, { recursive: true, force: true });
  });

  it("packs only dist/, package.json and the README", () => {
    const unexpected = installed!.packedFiles.filter(
      (file) => !/^(dist\/.+|package\.json|README\.md|LICENSE)$/.test(file),
    );
    expect(unexpected).toEqual([]);
    expect(installed!.packedFiles).toContain("dist/cli.js");
    expect(installed!.packedFiles).toContain("dist/kubectl-stsguard.js");
  });

  it("installs no development-only dependency, nor the node binary package", async () => {
    const devOnly = (await readDevDependencies()).filter((d) => d.devOnly).map((d) => d.name);
    expect(devOnly).toEqual(expect.arrayContaining(["vitest", "typescript", "node"]));
    const present = devOnly.filter((name) => installed!.tree.includes(`node_modules/${name}`));
    expect(present).toEqual([]);
    expect(installed!.tree).not.toContain("node_modules/.bin/node");
    expect(installed!.tree).toContain("node_modules/.bin/stsguard");
    expect(installed!.tree).toContain("node_modules/.bin/kubectl-stsguard");
  });

  const endpoints = [
    { name: "HTTPS /healthz answers 200", port: "webhook", path: "/healthz" },
    {
      name: "HTTPS /readyz answers 200 once the manifests are read",
      port: "webhook",
      path: "/readyz",
    },
    { name: "metrics-port /healthz answers 200", port: "metrics", path: "/healthz" },
    { name: "metrics-port /metrics answers 200", port: "metrics", path: "/metrics" },
  ] as const;

  it.each(endpoints)("$name", async ({ port, path }) => {
    const s = serving!;
    const url =
      port === "webhook"
        ? `https://127.0.0.1:${s.port}${path}`
        : `http://127.0.0.1:${s.metricsPort}${path}`;
    const { status } = await getStatus(url, s.caCert);
    expect(status).toBe(200);
  });

  it("mutates a recorded per-pod LoadBalancer Service against the manifests' StatefulSet", async () => {
    const s = serving!;
    const review = loadFixture("service-create-loadbalancer.at-mutating");
    const { status, json } = await postJson(`https://127.0.0.1:${s.port}/mutate`, s.caCert, review);
    expect(status).toBe(200);
    const response = (json as { response: { uid: string; allowed: boolean; patch?: string } })
      .response;
    expect(response).toMatchObject({ uid: review.request.uid, allowed: true });
    const patch = JSON.parse(Buffer.from(response.patch ?? "", "base64").toString("utf8")) as {
      path: string;
      value: unknown;
    }[];
    expect(patch).toContainEqual(
      expect.objectContaining({ path: "/spec/externalTrafficPolicy", value: "Local" }),
    );
  });

  it("runs `stsguard check` from the install", async () => {
    const install = installed!;
    const result = await runCommand(
      join(install.installDir, "node_modules", ".bin", "stsguard"),
      ["check", "--output", "json", join(install.root, "manifests")],
      { cwd: install.installDir, env: buildCleanEnv({}), timeoutMs: 20_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ summary: { objects: 1, errors: 0 } });
  });

  it("answers as a kubectl plugin: the real kubectl finds kubectl-stsguard on PATH", async () => {
    const install = installed!;
    const kubectl = await runCommand(
      process.execPath,
      [join(repoRoot, "scripts", "install-tool.mjs"), "kubectl"],
      { cwd: repoRoot, env: buildCleanEnv({}), timeoutMs: 60_000 },
    );
    expect(kubectl.code, kubectl.stderr).toBe(0);
    const bin = join(install.installDir, "node_modules", ".bin");
    const env = buildCleanEnv({ PATH: `${bin}${delimiter}${process.env["PATH"] ?? ""}` });
    const options = { cwd: install.installDir, env, timeoutMs: 20_000 };
    const help = await runCommand(kubectl.stdout.trim(), ["stsguard", "audit", "--help"], options);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout.split("\n")[0]).toBe("Usage: kubectl stsguard audit [options]");
    const check = await runCommand(
      kubectl.stdout.trim(),
      ["stsguard", "check", "-o", "json", join(install.root, "manifests")],
      options,
    );
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ summary: { objects: 1, errors: 0 } });
  });

  it("exits 0 on SIGTERM and has written nothing inside the install", async () => {
    const s = serving!;
    const exited = once(s.child, "exit") as Promise<[number | null, string | null]>;
    s.child.kill("SIGTERM");
    const [code, signal] = await exited;
    expect({ code, signal, stderr: code === 0 ? "" : s.stderr() }).toEqual({
      code: 0,
      signal: null,
      stderr: "",
    });
    expect(s.stdout()).toContain("stsguard webhook stopped");
    const after = await snapshotTree(installed!.installDir);
    const changed = [...new Set([...snapshotBefore!.keys(), ...after.keys()])].filter(
      (path) => snapshotBefore!.get(path) !== after.get(path),
    );
    expect(changed).toEqual([]);
  });
});
