/**
 * `kubectl stsguard …`: the real kubectl finds the `kubectl-stsguard` bin on PATH and runs it
 * against a real 1.26 API server holding the audit suite's objects (test/e2e/support/audit.ts).
 * The kubectl flags mean what they mean to kubectl: `-n`, `-A`, `--context`, `--kubeconfig`,
 * `-o json`; and `check` puts objects that name no namespace where `kubectl apply` puts them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditValues, installAudit, seedAuditCluster } from "./support/audit.js";
import type { AuditRunner } from "./support/audit.js";
import { run, startCluster, type Cluster, type CommandResult } from "./support/cluster.js";
import { kubectlStsguard, makePluginDir } from "./support/kubectl-plugin.js";
import { goodService } from "./support/objects.js";
import { kubectlPath, repoRoot } from "./support/paths.js";
import { makeWorkDir, runCli } from "./support/stsguard.js";

let cluster: Cluster | undefined;
let runner: AuditRunner;
let pluginDir: string;
let work: string;
/** Contexts: `nowhere` (current; no API server there), `audit` (the audit CronJob's ServiceAccount), `scaled` (the admin, namespace scaled). */
let kubeconfig: string;

interface JsonFinding {
  readonly rule: string;
  readonly severity: string;
  readonly namespace: string;
  readonly name: string;
  readonly message: string;
}

const findingsOf = (result: CommandResult): JsonFinding[] =>
  (JSON.parse(result.stdout) as { findings: JsonFinding[] }).findings;

const expectedAudit = (): JsonFinding[] =>
  (
    JSON.parse(readFileSync(path.join(repoRoot, "test/e2e/expected/audit.json"), "utf8")) as {
      findings: JsonFinding[];
    }
  ).findings;

/** `kubectl stsguard <args>` with KUBECONFIG naming the three-context file. */
const viaKubectl = (...args: string[]): Promise<CommandResult> =>
  kubectlStsguard(pluginDir, args, { env: { KUBECONFIG: kubeconfig }, cwd: work });

beforeAll(async () => {
  cluster = await startCluster();
  runner = await installAudit(cluster, auditValues());
  await seedAuditCluster(cluster);
  pluginDir = await makePluginDir();
  work = await makeWorkDir("kubectl-plugin-work");

  const auditor = JSON.parse(readFileSync(runner.kubeconfig, "utf8")) as {
    users: { user: { token: string } }[];
  };
  const real = { server: cluster.apiserverUrl, "certificate-authority": cluster.caFile };
  kubeconfig = path.join(work, "kubeconfig");
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "real", cluster: real },
        { name: "nowhere", cluster: { server: "https://127.0.0.1:1" } },
      ],
      users: [
        { name: "auditor", user: { token: auditor.users[0]?.user.token } },
        { name: "admin", user: { token: cluster.adminToken } },
      ],
      contexts: [
        { name: "nowhere", context: { cluster: "nowhere", user: "admin" } },
        { name: "audit", context: { cluster: "real", user: "auditor" } },
        { name: "scaled", context: { cluster: "real", user: "admin", namespace: "scaled" } },
      ],
      "current-context": "nowhere",
    }),
    { mode: 0o600 },
  );
  // kafka-2 of namespace scaled (StatefulSet kafka has 1 replica there), naming no namespace.
  const service = goodService("scaled", "kafka", 2) as { metadata: Record<string, unknown> };
  delete service.metadata["namespace"];
  writeFileSync(path.join(work, "kafka-2.yaml"), JSON.stringify(service));
});

afterAll(async () => {
  await cluster?.stop();
});

describe("kubectl stsguard audit", () => {
  it("-n exposed --context audit: that namespace's findings, as `stsguard audit -n exposed`", async () => {
    const [plugin, direct] = await Promise.all([
      viaKubectl(
        "audit",
        "-n",
        "exposed",
        "--context",
        "audit",
        "--config",
        runner.configFile,
        "-o",
        "json",
      ),
      runner.audit("-n", "exposed", "-o", "json"),
    ]);
    expect(plugin).toEqual(direct);
    expect(plugin.code).toBe(1);
    expect(plugin.stderr).toBe(
      "stsguard audit: judged 5 objects (1 StatefulSet, 4 per-pod Services) in 1 namespace, " +
        `read in 3 pages from ${String(cluster?.apiserverUrl)}\n`,
    );
    expect(findingsOf(plugin)).toEqual(expectedAudit().filter((f) => f.namespace === "exposed"));
  });

  it("-A: every namespace, as `stsguard audit` with no -n", async () => {
    const [plugin, direct] = await Promise.all([
      viaKubectl("audit", "-A", "--context", "audit", "--config", runner.configFile, "-o", "json"),
      runner.audit("-o", "json"),
    ]);
    expect(plugin).toEqual(direct);
    expect(new Set(findingsOf(plugin).map((f) => f.namespace))).toEqual(
      new Set(["scaled", "exposed", "loose", "legacy"]),
    );
  });

  it("--kubeconfig names the file instead of KUBECONFIG", async () => {
    const plugin = await kubectlStsguard(
      pluginDir,
      [
        "audit",
        "--kubeconfig",
        runner.kubeconfig,
        "--config",
        runner.configFile,
        "-n",
        "scaled",
        "-o",
        "json",
      ],
      { cwd: work },
    );
    expect(plugin.code).toBe(1);
    expect(findingsOf(plugin)).toEqual(expectedAudit().filter((f) => f.namespace === "scaled"));
  });

  it("without --context, the current context is used: here a server that is not there", async () => {
    const plugin = await viaKubectl("audit", "-n", "exposed", "-o", "json");
    expect(plugin.code).toBe(2);
    expect(plugin.stdout).toBe("");
    expect(plugin.stderr).toBe(
      "stsguard: GET https://127.0.0.1:1/version: connect ECONNREFUSED 127.0.0.1:1\n",
    );
  });

  it("-n with -A: refused before anything is read", async () => {
    const plugin = await viaKubectl("audit", "-n", "exposed", "-A", "--context", "audit");
    expect(plugin.code).toBe(2);
    expect(plugin.stderr.split("\n")[0]).toBe(
      "error: option '-A, --all-namespaces' cannot be used with option '-n, --namespace <name>'",
    );
  });
});

describe("kubectl stsguard check: objects that name no namespace go where kubectl apply puts them", () => {
  it("kubectl itself puts kafka-2.yaml in the context's namespace", async () => {
    const applied = await run(kubectlPath, [
      `--kubeconfig=${kubeconfig}`,
      "--context=scaled",
      "apply",
      "--dry-run=server",
      "-f",
      path.join(work, "kafka-2.yaml"),
      "-o",
      "jsonpath={.metadata.namespace}",
    ]);
    expect(applied).toEqual({ code: 0, stdout: "scaled", stderr: "" });
  });

  it("--context scaled: judged in namespace scaled, against its StatefulSet kafka", async () => {
    const plugin = await viaKubectl("check", "--context", "scaled", "-o", "json", "kafka-2.yaml");
    expect(plugin.code).toBe(1);
    expect(findingsOf(plugin).map((f) => `${f.rule} ${f.severity} ${f.message}`)).toEqual([
      "ordinal-out-of-range error Service scaled/kafka-2 selects pod kafka-2, but StatefulSet " +
        "kafka has 1 replica (ordinal 0); scale it up or select an existing ordinal",
    ]);
  });

  it("-n wins over the context's namespace, as in kubectl apply -n", async () => {
    const plugin = await viaKubectl(
      "check",
      "--context",
      "scaled",
      "-n",
      "clean",
      "-o",
      "json",
      "kafka-2.yaml",
    );
    expect(plugin.code).toBe(0);
    expect(findingsOf(plugin).map((f) => `${f.rule} ${f.namespace}/${f.name}`)).toEqual([
      "statefulset-not-found clean/kafka-2",
    ]);
  });

  it("offline (no cluster asked for), the namespace is default, whatever the kubeconfig says", async () => {
    const offline = await runCli(["check", "-o", "json", "kafka-2.yaml"], {
      cwd: work,
      env: { KUBECONFIG: kubeconfig },
    });
    expect(findingsOf(offline).map((f) => `${f.rule} ${f.namespace}/${f.name}`)).toEqual([
      "statefulset-not-found default/kafka-2",
    ]);
  });
});
