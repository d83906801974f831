/**
 * Once per `npm run test:e2e`: a run folder every test file's clusters and processes are recorded
 * in, development certificates for the webhooks the files start, kubectl unpacked; and at the end,
 * whatever a file left running (a crashed worker skips its afterAll) is stopped.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { clusterScript, k8sDir, repoRoot } from "./paths.js";

declare module "vitest" {
  export interface ProvidedContext {
    e2eRunDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  if (!existsSync(clusterScript())) {
    throw new Error(
      `no Kubernetes control plane at ${k8sDir()}: set STSGUARD_K8S_DIR to the folder holding cluster.sh`,
    );
  }
  if (spawnSync("sh", ["-c", "command -v etcd"]).status !== 0) {
    throw new Error("etcd is not on PATH: apt-get install -y etcd-server (.ci/run does this)");
  }
  const built = spawnSync(
    process.execPath,
    [path.join(repoRoot, "scripts/install-tool.mjs"), "kubectl"],
    {
      encoding: "utf8",
    },
  );
  if (built.status !== 0) throw new Error(`kubectl could not be unpacked: ${built.stderr}`);
  if (!existsSync(path.join(repoRoot, "dist/cli.js"))) {
    throw new Error("dist/cli.js is missing: run `npm run build` first (npm run test:e2e does)");
  }

  const runDir = mkdtempSync(path.join(os.tmpdir(), "stsguard-e2e-"));
  project.provide("e2eRunDir", runDir);

  return () => {
    stopLeftovers(runDir);
    rmSync(runDir, { recursive: true, force: true });
  };
}

function stopLeftovers(runDir: string): void {
  const pids = path.join(runDir, "pids");
  if (existsSync(pids)) {
    for (const file of readdirSync(pids)) {
      const pid = Number(readFileSync(path.join(pids, file), "utf8"));
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
  const clusters = path.join(runDir, "clusters");
  if (existsSync(clusters)) {
    for (const name of readdirSync(clusters)) {
      spawnSync("bash", [clusterScript(), "down", path.join(clusters, name)], { stdio: "ignore" });
    }
  }
}
