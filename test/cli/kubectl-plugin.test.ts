/**
 * stsguard as a kubectl plugin: the built `kubectl-stsguard` bin, run directly and by the real
 * kubectl (.tools/bin, from scripts/install-tool.mjs) finding it on PATH. Its usage and help say
 * `kubectl stsguard`; it is otherwise the same CLI. The cluster side (`kubectl stsguard audit -n`
 * against a real API server) is test/e2e/kubectl-plugin.e2e.test.ts.
 */
import { spawn, spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  kubectlPluginPath,
  makePluginBinDir,
  manifestsDir,
  repoRoot,
  runBuiltCli,
  type CliRun,
} from "./built-cli.js";

let pluginDir: { dir: string; remove: () => Promise<void> };
let kubectl: string;

function runProgram(file: string, args: readonly string[]): Promise<CliRun> {
  const env = {
    PATH: `${pluginDir.dir}${path.delimiter}${process.env["PATH"] ?? ""}`,
    HOME: os.tmpdir(),
  };
  const child = spawn(file, args, { cwd: manifestsDir, env });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end();
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

/** `kubectl-stsguard <args>`, the bin itself, as kubectl would exec it. */
const plugin = (...args: string[]): Promise<CliRun> =>
  runProgram(path.join(pluginDir.dir, "kubectl-stsguard"), args);

beforeAll(async () => {
  pluginDir = await makePluginBinDir();
  const installed = spawnSync(
    process.execPath,
    [path.join(repoRoot, "scripts/install-tool.mjs"), "kubectl"],
    { encoding: "utf8" },
  );
  if (installed.status !== 0) throw new Error(`install-tool kubectl: ${installed.stderr}`);
  kubectl = installed.stdout.trim();
});

afterAll(async () => {
  await pluginDir.remove();
});

describe("the kubectl-stsguard bin", () => {
  it("is the built dist/kubectl-stsguard.js with a node shebang", () => {
    expect(realpathSync(path.join(pluginDir.dir, "kubectl-stsguard"))).toBe(kubectlPluginPath);
  });

  it("says `kubectl stsguard` in its usage", async () => {
    const run = await plugin("--help");
    expect(run.code).toBe(0);
    expect(run.stdout.split("\n")[0]).toBe("Usage: kubectl stsguard [options] [command]");
  });

  it.each([
    ["audit", "Usage: kubectl stsguard audit [options]"],
    ["check", "Usage: kubectl stsguard check [options] <paths...>"],
    ["fix", "Usage: kubectl stsguard fix [options] <paths...>"],
  ])("says `kubectl stsguard %s` in the command's usage", async (command, usage) => {
    const run = await plugin(command, "--help");
    expect(run.code).toBe(0);
    expect(run.stdout.split("\n")[0]).toBe(usage);
  });

  it("writes its help examples as kubectl stsguard commands", async () => {
    const run = await plugin("certs", "--help");
    expect(run.stdout).toContain("\nExamples:\n  kubectl stsguard certs\n");
    expect(run.stdout).toContain("(kubectl stsguard serve --tls-cert)");
    expect(run.stdout).not.toMatch(/(?<!kubectl )stsguard (serve|certs)/);
  });

  it("leaves `stsguard` as it was", async () => {
    const help = await runBuiltCli(["audit", "--help"]);
    expect(help.stdout.split("\n")[0]).toBe("Usage: stsguard audit [options]");
    const certs = await runBuiltCli(["certs", "--help"]);
    expect(certs.stdout).toContain("\nExamples:\n  stsguard certs\n");
    expect(certs.stdout).not.toContain("kubectl");
  });

  it("checks exactly as `stsguard check` does", async () => {
    const [viaPlugin, direct] = await Promise.all([
      plugin("check", "-o", "json", "rules"),
      runBuiltCli(["check", "-o", "json", "rules"]),
    ]);
    expect(viaPlugin).toEqual(direct);
    expect(viaPlugin.code).toBe(1);
  });
});

describe("kubectl-style flags", () => {
  it("audit: -A with -n is a usage error, said before any cluster is read", async () => {
    for (const args of [
      ["-n", "shop", "-A"],
      ["--all-namespaces", "--namespace=shop"],
    ]) {
      const run = await plugin("audit", ...args);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr.split("\n")[0]).toBe(
        "error: option '-A, --all-namespaces' cannot be used with option '-n, --namespace <name>'",
      );
    }
  });

  it("audit: -A alone is accepted (it then needs a cluster, like any audit)", async () => {
    const run = await plugin("audit", "-A");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^stsguard: no Kubernetes configuration: /);
  });

  it("check: -n and --namespace= place objects that name no namespace, as kubectl apply -n does", async () => {
    for (const args of [["-n", "prod"], ["--namespace=prod"], ["-nprod"]]) {
      const run = await plugin("check", ...args, "-o", "json", "rules");
      const report = JSON.parse(run.stdout) as { findings: { namespace: string }[] };
      expect(new Set(report.findings.map((f) => f.namespace))).toEqual(new Set(["prod"]));
    }
  });

  it("check: -A is no check flag (manifests name their namespaces)", async () => {
    const run = await plugin("check", "-A", "rules");
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")[0]).toBe("error: unknown option '-A'");
  });

  it("certs: -n is --namespace", async () => {
    const run = await plugin("certs", "--help");
    expect(run.stdout).toMatch(
      /^ {2}-n, --namespace <namespace> +namespace of the webhook Service$/m,
    );
  });
});

describe("the real kubectl", () => {
  it("lists the plugin it finds on PATH", async () => {
    const run = await runProgram(kubectl, ["plugin", "list"]);
    expect(run.stdout).toContain(path.join(pluginDir.dir, "kubectl-stsguard"));
  });

  it("runs `kubectl stsguard check -o json` through it: the same report and exit code", async () => {
    const [viaKubectl, direct] = await Promise.all([
      runProgram(kubectl, ["stsguard", "check", "-o", "json", "rules"]),
      runBuiltCli(["check", "-o", "json", "rules"]),
    ]);
    expect(viaKubectl).toEqual(direct);
  });

  it("passes the arguments through: `kubectl stsguard --help` is the plugin's help", async () => {
    const run = await runProgram(kubectl, ["stsguard", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout.split("\n")[0]).toBe("Usage: kubectl stsguard [options] [command]");
  });
});
