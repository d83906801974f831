/**
 * `stsguard audit` (the built CLI) where no API server answers. Everything audit does against a
 * cluster — findings, every output format, namespaces, paging, exit codes — is proven against a
 * real API server in test/e2e/audit.e2e.test.ts; this needs no server at all.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeTempDir, runBuiltCli } from "../cli/built-cli.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";

describe("stsguard audit (built CLI) without an API server", () => {
  it("exits 2 with one clear line when the API server cannot be reached", async () => {
    const work = await makeTempDir("stsguard-audit-");
    try {
      // Nothing listens on port 9 (discard).
      await writeFile(path.join(work.dir, "down"), renderKubeconfig("http://127.0.0.1:9"));
      const down = await runBuiltCli(["audit", "--kubeconfig", "down", "--kube-version", "1.30"], {
        cwd: work.dir,
      });
      expect(down.code).toBe(2);
      expect(down.stdout).toBe("");
      expect(down.stderr).toMatch(
        /^stsguard: cannot list \/apis\/apps\/v1\/statefulsets: .*ECONNREFUSED/,
      );
    } finally {
      await work.remove();
    }
  }, 60_000);
});
