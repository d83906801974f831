/**
 * `governing-service` through the built `stsguard check`, over the table the engine and the
 * webhook run too. The cluster (a fake API server) holds nothing, so a Service the files lack
 * is missing, not unresolved.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import { GOVERNING_SERVICE_CASES } from "../policy/governing-service-cases.js";
import { makeTempDir, runBuiltCli, type CliRun } from "./built-cli.js";

interface JsonFinding {
  readonly rule: string;
  readonly kind: string;
  readonly name: string;
  readonly line: number;
  readonly message: string;
}

describe("stsguard check: governing-service (built CLI, --cluster against an empty cluster)", () => {
  let fake: FakeApiServer;
  let work: { dir: string; remove: () => Promise<void> };
  const runs = new Map<string, CliRun>();

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    work = await makeTempDir();
    await writeFile(path.join(work.dir, "kubeconfig.yaml"), renderKubeconfig(fake.url));
    await Promise.all(
      GOVERNING_SERVICE_CASES.map(async (row, index) => {
        const file = `case-${index}.yaml`;
        const documents = [row.statefulSet, ...(row.service ? [row.service] : [])];
        await writeFile(
          path.join(work.dir, file),
          documents.map((d) => stringify(d)).join("---\n"),
        );
        const run = await runBuiltCli(
          [
            "check",
            "-o",
            "json",
            "--kubeconfig",
            "kubeconfig.yaml",
            "--kube-version",
            "1.30",
            file,
          ],
          { cwd: work.dir },
        );
        runs.set(row.name, run);
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await fake.close();
    await work.remove();
  });

  it.each(GOVERNING_SERVICE_CASES)("$name", (row) => {
    const run = runs.get(row.name);
    expect(run?.stderr).toBe("");
    // A warning by default: exit 0.
    expect(run?.code).toBe(0);
    const findings = (JSON.parse(run?.stdout ?? "") as { findings: JsonFinding[] }).findings;
    if (row.expected === null) {
      expect(findings).toEqual([]);
      return;
    }
    expect(findings.map((f) => `${f.kind} ${f.name} ${f.rule}`)).toEqual([
      "StatefulSet web governing-service",
    ]);
    expect(findings[0]?.message).toContain(row.expected);
  });

  it("names the namespace where a Service of that name does exist", () => {
    const run = runs.get("Service in another namespace");
    expect(run?.stdout).toContain("a Service of that name exists in namespace other");
  });
});
