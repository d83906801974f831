/**
 * A real Kubernetes 1.26 control plane for one test file, started by the workspace's cluster.sh
 * on free loopback ports, and kubectl against it. Every cluster is recorded in the run folder, so
 * the global teardown stops it even when the file's afterAll never ran.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import path from "node:path";
import { inject } from "vitest";
import { clusterScript, kubectlPath } from "./paths.js";

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Who kubectl acts as: the admin by default, or an impersonated user (RBAC applies to it). */
export interface Identity {
  readonly user: string;
  readonly groups?: readonly string[];
}

export interface KubectlOptions {
  readonly input?: string;
  readonly as?: Identity;
  /** Resolve even when kubectl exits non-zero (for commands expected to be refused). */
  readonly allowFailure?: boolean;
  /** More environment for kubectl (e.g. KUBE_EDITOR for `kubectl edit`). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Cluster {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly apiserverUrl: string;
  readonly caFile: string;
  readonly adminToken: string;
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<CommandResult>;
  /** `kubectl apply -f -` of objects (or YAML text); returns kubectl's output. */
  apply(objects: string | readonly object[], options?: KubectlOptions): Promise<CommandResult>;
  /** `kubectl get -o json`; null when the object does not exist. */
  get<T = Record<string, unknown>>(
    resource: string,
    name: string,
    namespace?: string,
  ): Promise<T | null>;
  /** `kubectl get -o json` of a list; its items. */
  list<T = Record<string, unknown>>(
    resource: string,
    namespace?: string,
    selector?: string,
  ): Promise<T[]>;
  createNamespace(name: string, labels?: Readonly<Record<string, string>>): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Also start kube-controller-manager (garbage collection, the StatefulSet controller, ...). */
  readonly controllerManager?: boolean;
  readonly kcmFlags?: string;
  readonly apiserverFlags?: string;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const clustersDir = path.join(inject("e2eRunDir"), "clusters");
  mkdirSync(clustersDir, { recursive: true });
  const dir = await mkdtemp(path.join(clustersDir, "c-"));
  const args = ["up", dir];
  if (options.controllerManager) args.push("--controller-manager");
  if (options.kcmFlags) args.push("--kcm-flags", options.kcmFlags);
  if (options.apiserverFlags) args.push("--apiserver-flags", options.apiserverFlags);
  const up = await run("bash", [clusterScript(), ...args]);
  if (up.code !== 0) {
    throw new Error(`cluster.sh up failed (${String(up.code)}): ${up.stderr}${up.stdout}`);
  }
  const env = Object.fromEntries(
    readFileSync(path.join(dir, "cluster.env"), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const kubeconfig = env["KUBECONFIG"] ?? path.join(dir, "kubeconfig");

  const kubectl: Cluster["kubectl"] = async (args, kubectlOptions = {}) => {
    const identity = kubectlOptions.as
      ? [
          `--as=${kubectlOptions.as.user}`,
          ...(kubectlOptions.as.groups ?? []).map((group) => `--as-group=${group}`),
        ]
      : [];
    const result = await run(kubectlPath, [`--kubeconfig=${kubeconfig}`, ...identity, ...args], {
      input: kubectlOptions.input,
      ...(kubectlOptions.env ? { env: { ...process.env, ...kubectlOptions.env } } : {}),
    });
    if (result.code !== 0 && !kubectlOptions.allowFailure) {
      throw new Error(
        `kubectl ${args.join(" ")} failed (${String(result.code)}): ${result.stderr}${result.stdout}`,
      );
    }
    return result;
  };

  const cluster: Cluster = {
    dir,
    kubeconfig,
    apiserverUrl: env["APISERVER_URL"] ?? "",
    caFile: env["CA_FILE"] ?? "",
    adminToken: env["ADMIN_TOKEN"] ?? "",
    kubectl,
    apply: (objects, applyOptions = {}) =>
      kubectl(["apply", "-f", "-"], { ...applyOptions, input: toYaml(objects) }),
    async get(resource, name, namespace) {
      const result = await kubectl(
        ["get", resource, name, "-o", "json", ...(namespace ? ["-n", namespace] : [])],
        { allowFailure: true },
      );
      if (result.code !== 0) {
        if (/NotFound|not found/.test(result.stderr)) return null;
        throw new Error(`kubectl get ${resource} ${name} failed: ${result.stderr}`);
      }
      return JSON.parse(result.stdout) as never;
    },
    async list(resource, namespace, selector) {
      const result = await kubectl([
        "get",
        resource,
        "-o",
        "json",
        ...(namespace ? ["-n", namespace] : ["-A"]),
        ...(selector ? ["-l", selector] : []),
      ]);
      return (JSON.parse(result.stdout) as { items: never[] }).items;
    },
    async createNamespace(name, labels = {}) {
      await cluster.apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } }]);
    },
    async stop() {
      await run("bash", [clusterScript(), "down", dir]);
    },
  };
  return cluster;
}

/**
 * Objects as kubectl input. JSON documents (JSON is YAML): kubectl reads YAML 1.1, where a
 * plain `off` or `yes` that the yaml package writes unquoted would turn into a boolean.
 */
export function toYaml(objects: string | readonly object[]): string {
  return typeof objects === "string"
    ? objects
    : objects.map((object) => `---\n${JSON.stringify(object)}\n`).join("");
}

export function run(
  command: string,
  args: readonly string[],
  options: { input?: string | undefined; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(options.input ?? "");
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

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  description: string,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error: unknown) {
      last = error;
    }
    if (Date.now() > deadline) {
      const cause = last instanceof Error ? `: ${last.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
