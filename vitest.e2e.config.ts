import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import SummaryLineReporter from "./test/reporters/summary-line.js";

const repoRoot = path.dirname(fileURLToPath(import.meta.url));
// Read by the global setup (this process) and the test files (its forks, which inherit it).
process.env["STSGUARD_K8S_DIR"] ??= path.resolve(repoRoot, "../shared/k8s");

/**
 * `npm run test:e2e`: the suite against a real Kubernetes 1.26 control plane (kube-apiserver,
 * etcd, optionally kube-controller-manager) started on loopback by `cluster.sh` from the
 * workspace's k8s folder. The folder is named here, outside test/, so that `npm test` stays
 * self-contained; STSGUARD_K8S_DIR points elsewhere.
 */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    globalSetup: ["test/e2e/support/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    // Each file starts its own control plane (~300 MiB, a second of CPU to start); two at a time
    // keep a 2-core machine responsive enough for the webhook's timeouts.
    maxWorkers: 2,
    reporters: ["default", new SummaryLineReporter()],
  },
});
