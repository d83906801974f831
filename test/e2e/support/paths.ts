import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const cliPath = path.join(repoRoot, "dist", "cli.js");
export const kubectlPath = path.join(repoRoot, ".tools", "bin", "kubectl");

/** The folder with cluster.sh and the binaries; vitest.e2e.config.ts sets it. */
export function k8sDir(): string {
  const dir = process.env["STSGUARD_K8S_DIR"];
  if (!dir) throw new Error("STSGUARD_K8S_DIR is not set: run the suite with npm run test:e2e");
  return dir;
}

export function clusterScript(): string {
  return path.join(k8sDir(), "cluster.sh");
}
