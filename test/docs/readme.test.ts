import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
const packageJson = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};

describe("README", () => {
  it("opens with the install-and-run command and the test commands", () => {
    const firstBlock = readme.split("```sh\n")[1]?.split("```")[0] ?? "";
    const commands = firstBlock
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(/\s+#.*$/, "").trim());
    expect(commands).toEqual(["npm ci && npm start", "npm test && npm run test:e2e"]);
    expect(readme.indexOf("```sh")).toBeLessThan(200);
  });

  it("has npm scripts behind those commands: start serves the demo manifests, test runs everything", () => {
    expect(packageJson.scripts["start"]).toContain("serve --manifests examples/manifests");
    expect(packageJson.scripts["test"]).toMatch(/build.*typecheck.*lint.*vitest run/);
    expect(packageJson.scripts["test:e2e"]).toMatch(
      /build.*vitest run --config vitest\.e2e\.config\.ts/,
    );
  });

  it("shows a configuration example that the real parser accepts as written", () => {
    const section = readFileSync(path.join(repoRoot, "docs/configuration.md"), "utf8");
    const example = section.split("```yaml\n")[1]?.split("```")[0] ?? "";
    const config = parseConfig(example, "docs/configuration.md");
    expect(config.policy.extraLabels).toHaveLength(2);
    expect(config.kubeVersion).toEqual({ major: 1, minor: 29 });
    expect(config.onLookupFailure).toBe("deny");
  });

  it("shows a guardrail configuration example that the real parser accepts as written", () => {
    const section = readFileSync(path.join(repoRoot, "docs/configuration.md"), "utf8");
    const example = section.split("```yaml\n")[2]?.split("```")[0] ?? "";
    const config = parseConfig(example, "docs/configuration.md");
    expect(config.guardrails.namespaces).toHaveLength(2);
    expect(config.guardrails.exemptions.map((e) => e.name)).toEqual(["kafka-migration"]);
    const rollout = readFileSync(path.join(repoRoot, "docs/rollout.md"), "utf8");
    const exemption = rollout.split("```yaml\n")[1]?.split("```")[0] ?? "";
    expect(parseConfig(exemption, "docs/rollout.md").guardrails.exemptions).toHaveLength(1);
  });

  it("lets CI run exactly the README's test commands, with etcd for the real cluster", () => {
    const ciScript = readFileSync(path.join(repoRoot, ".ci/run"), "utf8");
    expect(ciScript).toMatch(/^npm ci\b/m);
    expect(ciScript).toMatch(/^npm test\nnpm run test:e2e$/m);
    expect(ciScript).toMatch(/command -v etcd >\/dev\/null \|\| packages="\$packages etcd-server"/);
  });
});
