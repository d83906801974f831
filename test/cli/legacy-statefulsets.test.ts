// Old charts' StatefulSets (apps/v1beta1, removed in Kubernetes 1.16) through the built CLI, as CI
// runs it: recognised, their per-pod Services judged against them, the version reported, and
// fixed only where apps/v1 means the same.
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, manifestsDir, runBuiltCli, type CliRun } from "./built-cli.js";
import { runInProcess } from "./in-process-cli.js";

const legacyDir = path.join(manifestsDir, "legacy-charts");
const ZOOKEEPER = "zookeeper.yaml";
const KAFKA = "kafka-no-selector.yaml";

interface JsonReport {
  readonly summary: { objects: number; perPodServices: number; errors: number; warnings: number };
  readonly findings: readonly {
    rule: string;
    severity: string;
    kind: string;
    namespace: string;
    name: string;
    file: string;
    line: number;
    column: number;
    message: string;
    fixable: boolean;
  }[];
}

function findingsOf(run: CliRun): string[] {
  const report = JSON.parse(run.stdout) as JsonReport;
  return report.findings.map(
    (f) => `${f.file}:${f.line}:${f.column} ${f.rule} ${f.kind} ${f.name}`,
  );
}

describe("stsguard check over old charts' StatefulSets (built CLI)", () => {
  let run: CliRun;
  beforeAll(async () => {
    run = await runBuiltCli(["check", "-o", "json", "--namespace", "data", "legacy-charts"]);
  }, 60_000);

  it("judges the per-pod Services against the apps/v1beta1 StatefulSet in the same file", () => {
    // The chart's headless Service is not among the inputs: governing-service cannot be judged.
    expect(run.stderr).toBe(
      "legacy-charts/kafka-no-selector.yaml:7:9: warning: StatefulSet data/kafka: governing-service " +
        "not checked: Service data/kafka-headless is not among the inputs; pass it too, or use " +
        "--cluster\n",
    );
    expect(run.code).toBe(1);
    expect(findingsOf(run)).toEqual([
      "legacy-charts/kafka-no-selector.yaml:4:1 removed-api-version StatefulSet kafka",
      "legacy-charts/zookeeper.yaml:55:1 removed-api-version StatefulSet zk-zookeeper",
      "legacy-charts/zookeeper.yaml:67:3 orphaned-service StatefulSet zk-zookeeper",
      "legacy-charts/zookeeper.yaml:165:41 ordinal-out-of-range Service zk-zookeeper-3-external",
    ]);
    expect(JSON.parse(run.stdout)).toMatchObject({
      summary: { objects: 8, perPodServices: 4, errors: 3, warnings: 1 },
    });
  });

  it("says what to change, and fixes only what stays the same under apps/v1", () => {
    const report = JSON.parse(run.stdout) as JsonReport;
    const [kafka, zookeeper] = report.findings.filter((f) => f.rule === "removed-api-version");
    expect(zookeeper).toMatchObject({ severity: "error", namespace: "data", fixable: true });
    expect(zookeeper?.message).toBe(
      "StatefulSet data/zk-zookeeper uses apiVersion apps/v1beta1, which Kubernetes removed in 1.16: " +
        "change apiVersion to apps/v1 (which requires spec.selector; this one has it)",
    );
    expect(kafka).toMatchObject({ fixable: false });
    expect(kafka?.message).toContain(
      "add spec.selector, which apps/v1 requires: matchLabels with the pod template's labels (app: kafka, release: kafka)",
    );
    expect(kafka?.message).toContain("set spec.updateStrategy.type: OnDelete");
  });

  it("takes the rule's severity from the configuration", async () => {
    const temp = await makeTempDir();
    try {
      const config = path.join(temp.dir, "stsguard.yaml");
      await writeFile(config, "rules:\n  removed-api-version: warning\n");
      const args = ["check", "-o", "json", "--config", config, "--namespace", "data"];
      const report = JSON.parse(
        (await runInProcess([...args, "legacy-charts"])).stdout,
      ) as JsonReport;
      expect(
        report.findings.filter((f) => f.rule === "removed-api-version").map((f) => f.severity),
      ).toEqual(["warning", "warning"]);
    } finally {
      await temp.remove();
    }
  });
});

describe("stsguard fix over old charts' StatefulSets (built CLI)", () => {
  let work: { dir: string; remove: () => Promise<void> };
  const runs: Record<string, CliRun> = {};
  const original: Record<string, string> = {};

  beforeAll(async () => {
    work = await makeTempDir();
    for (const name of [ZOOKEEPER, KAFKA]) {
      await cp(path.join(legacyDir, name), path.join(work.dir, name));
      original[name] = await readFile(path.join(legacyDir, name), "utf8");
    }
    runs["diff"] = await runBuiltCli(["fix", "--diff", "--namespace", "data", "."], {
      cwd: work.dir,
    });
    runs["fix"] = await runBuiltCli(["fix", "--namespace", "data", "."], { cwd: work.dir });
    runs["check"] = await runInProcess(["check", "-o", "json", "--namespace", "data", "."], {
      cwd: work.dir,
    });
  }, 120_000);

  afterAll(async () => {
    await work.remove();
  });

  it("shows the one-line change with --diff and exits 1", () => {
    expect(runs["diff"]?.code).toBe(1);
    const changed = (runs["diff"]?.stdout ?? "")
      .split("\n")
      .filter((line) => /^[-+][^-+]/.test(line));
    expect(changed).toEqual(["-apiVersion: apps/v1beta1", "+apiVersion: apps/v1"]);
  });

  it("rewrites only the apiVersion of the StatefulSet that has a selector and its own strategy", async () => {
    expect(runs["fix"]?.code).toBe(0);
    expect(runs["fix"]?.stdout).toBe(`fixed ${ZOOKEEPER}: 1 StatefulSet\n`);
    expect(runs["fix"]?.stderr).toBe(
      "stsguard: fixed 1 of 2 files; 2 findings need a manual fix (see stsguard check)\n",
    );
    const zookeeper = await readFile(path.join(work.dir, ZOOKEEPER), "utf8");
    expect(zookeeper).toBe(
      original[ZOOKEEPER]?.replace("apiVersion: apps/v1beta1\n", "apiVersion: apps/v1\n"),
    );
    expect(await readFile(path.join(work.dir, KAFKA), "utf8")).toBe(original[KAFKA]);
  });

  it("leaves a check with only what needs a person", () => {
    expect(findingsOf(runs["check"]!)).toEqual([
      "kafka-no-selector.yaml:4:1 removed-api-version StatefulSet kafka",
      "zookeeper.yaml:67:3 orphaned-service StatefulSet zk-zookeeper",
      "zookeeper.yaml:165:41 ordinal-out-of-range Service zk-zookeeper-3-external",
    ]);
  });
});
