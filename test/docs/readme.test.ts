import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run.js";
import { parseConfig } from "../../src/config/config.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const read = (file: string): string => readFileSync(path.join(repoRoot, file), "utf8");
const readme = read("README.md");
const packageJson = JSON.parse(read("package.json")) as {
  scripts: Record<string, string>;
};

/** The body of the n-th (0-based) fenced block of a language in a text. */
function block(text: string, lang: string, n: number): string {
  return text.split("```" + lang + "\n")[n + 1]?.split("```")[0] ?? "";
}

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

  it("is a front page: at most 200 lines, in the order the issue asks", () => {
    expect(readme.split("\n").length).toBeLessThanOrEqual(200);
    const sections = [...readme.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
    expect(sections).toEqual([
      "Try it",
      "Install in a cluster",
      "Use in CI",
      "As a kubectl plugin",
      "The manual",
    ]);
  });

  it("shows a per-pod Service that `stsguard check` passes beside the demo StatefulSet", async () => {
    const service = block(readme, "yaml", 0);
    expect(service).toContain("statefulset.kubernetes.io/pod-name: web-2");
    const out: string[] = [];
    const code = await runCli(
      ["check", "--output", "json", "-", "examples/manifests/web-statefulset.yaml"],
      {
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: () => true },
        stdin: Readable.from([service]),
        cwd: repoRoot,
        env: {},
      },
    );
    const report = JSON.parse(out.join("")) as {
      summary: { perPodServices: number };
      findings: unknown[];
    };
    expect(report.findings).toEqual([]);
    expect(report.summary.perPodServices).toBe(1);
    expect(code).toBe(0);
  });

  it("sends a reader who wants CI or the controller straight to its page", () => {
    const rows = new Map(
      [...readme.matchAll(/^\| ([^|]+) \| \[([^\]]+)\]\(([^)]+)\)/gm)].map((match) => [
        match[1],
        match[3],
      ]),
    );
    expect(rows.get("Run stsguard in CI")).toBe("docs/ci.md");
    expect(rows.get("Keep per-pod Services automatically (controller)")).toBe("docs/controller.md");
    // Every page of the manual is in the table.
    const pages = readdirSync(path.join(repoRoot, "docs"))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`);
    const linked = new Set([...readme.matchAll(/\]\((docs\/[\w-]+\.md)\)/g)].map((m) => m[1]));
    expect(pages.filter((page) => !linked.has(page))).toEqual([]);
  });

  it("lets CI run exactly the README's test commands, with etcd for the real cluster", () => {
    const ciScript = read(".ci/run");
    expect(ciScript).toMatch(/^npm ci\b/m);
    expect(ciScript).toMatch(/^npm test\nnpm run test:e2e$/m);
    expect(ciScript).toMatch(/command -v etcd >\/dev\/null \|\| packages="\$packages etcd-server"/);
  });
});

describe("docs/configuration.md and docs/rollout.md", () => {
  const configuration = read("docs/configuration.md");

  it("shows a configuration example that the real parser accepts as written", () => {
    const config = parseConfig(block(configuration, "yaml", 0), "docs/configuration.md");
    expect(config.policy.extraLabels).toHaveLength(2);
    expect(config.kubeVersion).toEqual({ major: 1, minor: 29 });
    expect(config.onLookupFailure).toBe("deny");
  });

  it("shows a guardrail configuration example that the real parser accepts as written", () => {
    const config = parseConfig(block(configuration, "yaml", 1), "docs/configuration.md");
    expect(config.guardrails.namespaces).toHaveLength(2);
    expect(config.guardrails.exemptions.map((e) => e.name)).toEqual(["kafka-migration"]);
    const exemption = block(read("docs/rollout.md"), "yaml", 0);
    expect(parseConfig(exemption, "docs/rollout.md").guardrails.exemptions).toHaveLength(1);
  });
});

describe("the pages of docs/", () => {
  const pages = readdirSync(path.join(repoRoot, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`);

  it.each(pages)("%s says who it is for, then shows one example, before any section", (page) => {
    const text = read(page);
    const [title, forWhom] = text.split("\n\n");
    expect(title).toMatch(/^# \S/);
    expect(forWhom).toMatch(/^For /);
    const beforeFirstSection = text.split(/^## /m)[0] ?? "";
    expect(beforeFirstSection).toMatch(/\n```\w*\n[\s\S]+?\n```\n/);
  });
});
