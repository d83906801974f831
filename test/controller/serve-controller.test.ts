// `stsguard serve --controller`'s flags, from the built CLI. The controller serving beside the
// webhook is proven against a real API server in test/e2e/controller*.e2e.test.ts.
import { describe, expect, it } from "vitest";
import { runBuiltCli } from "../cli/built-cli.js";

describe("stsguard serve --controller (built CLI)", () => {
  it("documents the flags and refuses --controller with --manifests", async () => {
    const help = await runBuiltCli(["serve", "--help"]);
    expect(help.stdout).toMatch(/--controller\s/);
    expect(help.stdout).toMatch(/STSGUARD_CONTROLLER\s+--controller/);
    expect(help.stdout).toMatch(/--leader-election-namespace <ns>/);
    const refused = await runBuiltCli(["serve", "--controller", "--manifests", "."]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /--controller writes Services to a cluster; it cannot run with --manifests/,
    );
  });
});
