// The GitHub Action (action.yml) run the way a workflow runs it: its `check` step's command, with
// the environment action.yml gives that step (inputs as INPUT_* variables, defaults filled in),
// plus what the runner sets (GITHUB_WORKSPACE, GITHUB_OUTPUT, RUNNER_TEMP), as a child process.
import { execFile } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { makeTempDir, manifestsDir, repoRoot, runBuiltCli } from "../cli/built-cli.js";
import { runInProcess } from "../cli/in-process-cli.js";

interface ActionStep {
  readonly id?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly shell?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly with?: Readonly<Record<string, string>>;
}

interface Action {
  readonly inputs: Readonly<Record<string, { readonly default?: string }>>;
  readonly outputs: Readonly<Record<string, { readonly value: string }>>;
  readonly runs: { readonly using: string; readonly steps: readonly ActionStep[] };
}

const action = parse(await readFile(path.join(repoRoot, "action.yml"), "utf8")) as Action;
const checkStep = action.runs.steps.find((step) => step.id === "check");

interface StepRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
}

let work: { dir: string; remove: () => Promise<void> };

/** `${{ inputs.x }}` and `${{ github.action_path }}` as the runner expands them. */
function expand(value: string, inputs: Readonly<Record<string, string>>): string {
  return value.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (_, expression: string) => {
    if (expression === "github.action_path") return repoRoot;
    const name = expression.replace(/^inputs\./, "");
    const input = action.inputs[name];
    if (!expression.startsWith("inputs.") || !input) throw new Error(`unknown ${expression}`);
    return inputs[name] ?? input.default ?? "";
  });
}

/** Runs the check step with `inputs` (the rest at their defaults) in the temp workspace. */
async function runStep(inputs: Readonly<Record<string, string>>): Promise<StepRun> {
  if (!checkStep?.run || checkStep.shell !== "bash") throw new Error("no bash step with id check");
  const outputFile = path.join(work.dir, `github-output-${Math.random().toString(36).slice(2)}`);
  await writeFile(outputFile, "");
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    HOME: work.dir,
    GITHUB_WORKSPACE: path.join(work.dir, "workspace"),
    GITHUB_OUTPUT: outputFile,
    RUNNER_TEMP: work.dir,
  };
  for (const [key, value] of Object.entries(checkStep.env ?? {})) env[key] = expand(value, inputs);
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      "bash",
      ["-e", "-c", checkStep.run ?? ""],
      { cwd: env["GITHUB_WORKSPACE"], env, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
  const outputs = Object.fromEntries(
    (await readFile(outputFile, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  return { ...result, outputs };
}

beforeAll(async () => {
  await runBuiltCli(["--help"]); // builds dist/ when it is missing or stale
  work = await makeTempDir("stsguard-action-");
  for (const dir of ["rules", "clean", "warnings-only", "configured", "autoscaled"]) {
    await cp(path.join(manifestsDir, dir), path.join(work.dir, "workspace", dir), {
      recursive: true,
    });
  }
}, 120_000);

afterAll(async () => {
  await work.remove();
});

describe("action.yml", () => {
  it("is a composite action whose check step gets every input as INPUT_<NAME>", () => {
    expect(action.runs.using).toBe("composite");
    expect(checkStep?.run).toBe('node "$GITHUB_ACTION_PATH/scripts/github-action.mjs"');
    expect(checkStep?.env?.["GITHUB_ACTION_PATH"]).toBe("${{ github.action_path }}");
    const passed = Object.keys(action.inputs).filter((name) => name !== "category");
    expect(passed).toEqual([
      "paths",
      "output",
      "config",
      "strict",
      "namespace",
      "kube-version",
      "upload-sarif",
      "sarif-file",
    ]);
    for (const name of passed) {
      expect(checkStep?.env?.[`INPUT_${name.toUpperCase()}`], name).toBe(`\${{ inputs.${name} }}`);
    }
  });

  it("uploads the SARIF file to code scanning only when asked, even after findings", () => {
    const upload = action.runs.steps.find((step) =>
      step.uses?.startsWith("github/codeql-action/upload-sarif@"),
    );
    expect(upload?.uses).toBe("github/codeql-action/upload-sarif@v3");
    expect(upload?.if).toContain("!cancelled()");
    expect(upload?.if).toContain("inputs.upload-sarif == 'true'");
    expect(upload?.with).toEqual({
      sarif_file: "${{ steps.check.outputs.sarif-file }}",
      category: "${{ inputs.category }}",
    });
    expect(action.outputs["exit-code"]?.value).toBe("${{ steps.check.outputs.exit-code }}");
  });
});

describe("the action's check step, run as a workflow runs it", () => {
  it("annotates the findings and fails with check's exit status", async () => {
    const run = await runStep({ paths: "rules" });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "::error file=rules/a-services.yaml,line=34,col=41,title=ordinal-out-of-range::",
    );
    expect(run.outputs).toEqual({ "exit-code": "1" });
  });

  it("passes a clean tree", async () => {
    const run = await runStep({ paths: "clean" });
    expect(run).toMatchObject({ code: 0, outputs: { "exit-code": "0" } });
  });

  it("reads an autoscaled chart's HPA: brokers below maxReplicas pass, the one beyond fails", async () => {
    const clean = await runStep({ paths: "autoscaled/kafka.yaml" });
    expect(clean).toMatchObject({ code: 0, outputs: { "exit-code": "0" } });
    expect(clean.stdout).toBe(
      "stsguard: 0 errors, 0 warnings in 3 per-pod Services and 1 StatefulSet\n",
    );
    const beyond = await runStep({ paths: "autoscaled" });
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toContain(
      "::error file=autoscaled/extra-broker.yaml,line=33,col=41,title=ordinal-out-of-range::" +
        "Service data/kafka-controller-5-external selects pod kafka-controller-5, but StatefulSet " +
        "kafka-controller has up to 5 replicas (ordinals 0-4), autoscaled 3–5 by " +
        "HorizontalPodAutoscaler kafka-controller; raise maxReplicas of HorizontalPodAutoscaler " +
        "kafka-controller or select an ordinal in that range\n",
    );
  });

  it("writes the SARIF file for the upload step, for paths on several lines", async () => {
    const run = await runStep({ paths: "rules\nclean\n", "upload-sarif": "true" });
    expect(run.code).toBe(1);
    expect(run.outputs).toEqual({ "sarif-file": "stsguard.sarif", "exit-code": "1" });
    const sarif = JSON.parse(
      await readFile(path.join(work.dir, "workspace", "stsguard.sarif"), "utf8"),
    ) as { version: string; runs: { results: { locations: unknown[] }[] }[] };
    expect(sarif.version).toBe("2.1.0");
    // rules/: 9 errors and 4 warnings; clean/: none.
    expect(sarif.runs[0]?.results).toHaveLength(13);
    expect(run.stdout).toContain("::error "); // the log still shows the annotations
  });

  it.each([
    { strict: "false", code: 0 },
    { strict: "true", code: 1 },
  ])("fails on warnings only with strict $strict: exit $code", async ({ strict, code }) => {
    const run = await runStep({ paths: "warnings-only", strict });
    expect(run.code).toBe(code);
    expect(run.outputs["exit-code"]).toBe(String(code));
  });

  it("gives check the config, namespace, kube-version and output it was given", async () => {
    const inputs = {
      paths: "configured/manifests.yaml",
      output: "json",
      config: "configured/stsguard.yaml",
      namespace: "prod",
      "kube-version": "1.28",
    };
    const run = await runStep(inputs);
    const direct = await runInProcess(
      [
        "check",
        "-o",
        "json",
        "--config",
        inputs.config,
        "-n",
        "prod",
        "--kube-version",
        "1.28",
        inputs.paths,
      ],
      { cwd: path.join(work.dir, "workspace") },
    );
    expect(run.code).toBe(direct.code);
    expect(JSON.parse(run.stdout)).toEqual(JSON.parse(direct.stdout));
    const report = JSON.parse(run.stdout) as { findings: { namespace: string }[] };
    expect(report.findings.map((f) => f.namespace)).toContain("prod");
  });

  it("stops at a bad input with an annotation that names it, exit 2", async () => {
    const run = await runStep({ paths: "clean", strict: "yes" });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe(
      '::error title=stsguard::input strict: expected true or false, got "yes"\n',
    );
    expect(run.outputs).toEqual({ "exit-code": "2" });
  });

  it("reports a path that does not exist as check does, exit 2", async () => {
    const run = await runStep({ paths: "clean no/such/dir" });
    expect(run.code).toBe(2);
    expect(run.stdout).toContain("no/such/dir");
    expect(run.outputs).toEqual({ "exit-code": "2" });
  });
});

describe("docs/ci.md and the README: the stsguard action", () => {
  it("shows a workflow whose inputs are all the action's, and documents every input", async () => {
    const page = await readFile(path.join(repoRoot, "docs/ci.md"), "utf8");
    const section = /\n## GitHub Actions: the stsguard action\n([\s\S]*?)\n## /.exec(page)?.[1];
    const workflow = parse(/```yaml\n([\s\S]*?)```/.exec(section ?? "")?.[1] ?? "") as {
      jobs: Record<string, { steps: { uses?: string; with?: Record<string, string> }[] }>;
    };
    const step = workflow.jobs["stsguard"]?.steps.find((s) => s.uses?.startsWith("stsguard/"));
    expect(Object.keys(step?.with ?? {}).length).toBeGreaterThan(3);
    for (const name of Object.keys(step?.with ?? {})) expect(action.inputs).toHaveProperty(name);
    const documented = [...(section ?? "").matchAll(/^\| `([\w-]+)`(?:, `([\w-]+)`)? \|/gm)]
      .flatMap((match) => [match[1], match[2]])
      .filter(Boolean);
    expect(documented.sort()).toEqual(Object.keys(action.inputs).sort());
  });

  it("shows on the README's front page a step that uses the action with its own inputs only", async () => {
    const readme = await readFile(path.join(repoRoot, "README.md"), "utf8");
    const section = /\n## Use in CI\n([\s\S]*?)\n## /.exec(readme)?.[1];
    const steps = parse(/```yaml\n([\s\S]*?)```/.exec(section ?? "")?.[1] ?? "") as {
      steps: { uses?: string; with?: Record<string, string> }[];
    };
    const step = steps.steps.find((s) => s.uses?.startsWith("stsguard/"));
    expect(step?.uses).toMatch(/^stsguard\/stsguard@v\d+\.\d+\.\d+$/);
    expect(Object.keys(step?.with ?? {})).toEqual(["paths"]);
    for (const name of Object.keys(step?.with ?? {})) expect(action.inputs).toHaveProperty(name);
  });
});
