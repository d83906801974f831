/**
 * `check` and `fix` over a rendered chart whose StatefulSet an autoscaler scales: Bitnami's kafka
 * with controller autoscaling (no spec.replicas, an autoscaling/v2 HPA 3–5, one external
 * LoadBalancer Service per broker). The autoscalers are read from the inputs like StatefulSets,
 * in any file and document order.
 */
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { makeTempDir, manifestsDir, runBuiltCli, type CliRun } from "./built-cli.js";
import { runInProcess } from "./in-process-cli.js";

const dir = path.join(manifestsDir, "autoscaled");
const kafka = await readFile(path.join(dir, "kafka.yaml"), "utf8");
const documents = parseAllDocuments(kafka).map((doc) => doc.toJS() as Record<string, unknown>);
const hpa = documents.find((d) => d["kind"] === "HorizontalPodAutoscaler");
const withoutHpa = documents.filter((d) => d !== hpa);

const toYaml = (objects: readonly unknown[]): string =>
  objects.map((o) => `---\n${stringify(o)}`).join("");

/** The chart with the HPA replaced by `replacement` (none when null). */
function chartWith(replacement: unknown): string {
  return toYaml(replacement === null ? withoutHpa : [...withoutHpa, replacement]);
}

interface JsonReport {
  readonly summary: Record<string, number>;
  readonly findings: { rule: string; name: string; message: string }[];
}

const json = (run: CliRun): JsonReport => JSON.parse(run.stdout) as JsonReport;
const describeFindings = (run: CliRun): string[] =>
  json(run).findings.map((f) => `${f.rule} ${f.name}`);

describe("stsguard check over Bitnami kafka with controller autoscaling (built CLI)", () => {
  let clean: CliRun;
  let beyond: CliRun;

  beforeAll(async () => {
    [clean, beyond] = await Promise.all([
      runBuiltCli(["check", "autoscaled/kafka.yaml"]),
      runBuiltCli(["check", "autoscaled"]),
    ]);
  }, 60_000);

  it("passes the chart clean: brokers 0–2 are below the HPA's maxReplicas", () => {
    expect(clean).toEqual({
      code: 0,
      stdout: "No problems: 3 per-pod Services and 1 StatefulSet in 9 objects checked.\n",
      stderr: "",
    });
  });

  it("fails a Service for ordinal 5, beyond maxReplicas, saying where the range came from", () => {
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toBe(
      [
        "autoscaled/extra-broker.yaml",
        "  33:41  error    ordinal-out-of-range  Service data/kafka-controller-5-external selects " +
          "pod kafka-controller-5, but StatefulSet kafka-controller has up to 5 replicas " +
          "(ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler kafka-controller; raise " +
          "maxReplicas of HorizontalPodAutoscaler kafka-controller or select an ordinal in that range",
        "",
        "autoscaled/kafka.yaml",
        "  210:1  warning  orphaned-service  StatefulSet data/kafka-controller will have up to 5 " +
          "replicas (ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler kafka-controller, so " +
          "Service kafka-controller-5-external selects pod kafka-controller-5, which will not " +
          "exist; delete that Service or raise maxReplicas",
        "",
        "1 error, 1 warning in 4 per-pod Services and 1 StatefulSet in 10 objects.",
        "",
      ].join("\n"),
    );
  });
});

describe("stsguard check: which autoscalers count", () => {
  const check = (stdin: string): Promise<CliRun> =>
    runInProcess(["check", "-o", "json", "-"], { stdin });

  it("without the HPA, says the one replica is the default of an unset field", async () => {
    const run = await check(chartWith(null));
    expect(run.code).toBe(1);
    expect(json(run).findings.map((f) => f.message)).toEqual([
      "Service data/kafka-controller-1-external selects pod kafka-controller-1, but StatefulSet " +
        "kafka-controller has 1 replica (ordinal 0), replicas unset (defaults to 1); set " +
        "spec.replicas or select an existing ordinal",
      "Service data/kafka-controller-2-external selects pod kafka-controller-2, but StatefulSet " +
        "kafka-controller has 1 replica (ordinal 0), replicas unset (defaults to 1); set " +
        "spec.replicas or select an existing ordinal",
      "StatefulSet data/kafka-controller will have 1 replica (ordinal 0), replicas unset " +
        "(defaults to 1), so Service kafka-controller-1-external selects pod kafka-controller-1, " +
        "which will not exist; delete that Service or set spec.replicas",
      "StatefulSet data/kafka-controller will have 1 replica (ordinal 0), replicas unset " +
        "(defaults to 1), so Service kafka-controller-2-external selects pod kafka-controller-2, " +
        "which will not exist; delete that Service or set spec.replicas",
    ]);
  });

  it("reads the HPA whatever the order: first, in another file, or from standard input", async () => {
    const hpaFirst = await check(toYaml([hpa, ...withoutHpa]));
    expect(describeFindings(hpaFirst)).toEqual([]);
    const work = await makeTempDir();
    try {
      await writeFile(path.join(work.dir, "a-hpa.yaml"), toYaml([hpa]));
      await writeFile(path.join(work.dir, "b-chart.yaml"), chartWith(null));
      const split = await runInProcess(["check", "-o", "json", "."], { cwd: work.dir });
      expect(split.code).toBe(0);
      expect(json(split).summary).toEqual({
        objects: 9,
        perPodServices: 3,
        errors: 0,
        warnings: 0,
      });
      const stdinHpa = await runInProcess(["check", "-o", "json", "b-chart.yaml", "-"], {
        cwd: work.dir,
        stdin: toYaml([hpa]),
      });
      expect(describeFindings(stdinHpa)).toEqual([]);
    } finally {
      await work.remove();
    }
  });

  const target = (over: Record<string, unknown>): unknown => ({
    ...hpa,
    spec: { ...(hpa?.["spec"] as object), scaleTargetRef: over },
  });
  const failing = [
    "ordinal-out-of-range kafka-controller-1-external",
    "ordinal-out-of-range kafka-controller-2-external",
    "orphaned-service kafka-controller",
    "orphaned-service kafka-controller",
  ];

  it.each([
    {
      name: "an HPA of a Deployment of the same name",
      hpa: target({ apiVersion: "apps/v1", kind: "Deployment", name: "kafka-controller" }),
    },
    {
      name: "an HPA of another group's StatefulSet (OpenKruise)",
      hpa: target({
        apiVersion: "apps.kruise.io/v1beta1",
        kind: "StatefulSet",
        name: "kafka-controller",
      }),
    },
    {
      name: "an HPA in another namespace",
      hpa: { ...hpa, metadata: { name: "kafka-controller", namespace: "other" } },
    },
  ])("does not count $name", async ({ hpa: other }) => {
    const run = await check(chartWith(other));
    expect(run.code).toBe(1);
    expect(describeFindings(run)).toEqual(failing);
  });

  it("says on standard error when an HPA of the StatefulSet is invalid (a quoted maxReplicas)", async () => {
    const quoted = { ...hpa, spec: { ...(hpa?.["spec"] as object), maxReplicas: "5" } };
    const input = chartWith(quoted);
    const line = input.split("\n").findIndex((l) => l === '  maxReplicas: "5"') + 1;
    expect(line).toBeGreaterThan(0);
    const run = await runInProcess(["check", "-"], { stdin: input });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `<stdin>:${line}:16: warning: HorizontalPodAutoscaler data/kafka-controller: maxReplicas "5" ` +
        "is not a whole number from 1, so it is not valid and does not widen the ordinals of " +
        "StatefulSet kafka-controller\n",
    );
  });

  it.each([
    { name: "an autoscaling/v1 HPA", apiVersion: "autoscaling/v1" },
    { name: "an autoscaling/v2beta2 HPA", apiVersion: "autoscaling/v2beta2" },
  ])("counts $name", async ({ apiVersion }) => {
    const v1 = { ...hpa, apiVersion, spec: { ...(hpa?.["spec"] as object), metrics: undefined } };
    const run = await check(chartWith(JSON.parse(JSON.stringify(v1))));
    expect(run.code).toBe(0);
    expect(describeFindings(run)).toEqual([]);
  });

  it("counts a KEDA ScaledObject in the bundle as the HPA KEDA will make of it", async () => {
    const scaledObject = {
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      metadata: { name: "kafka-controller", namespace: "data" },
      spec: {
        scaleTargetRef: { kind: "StatefulSet", name: "kafka-controller" },
        minReplicaCount: 3,
        maxReplicaCount: 5,
        triggers: [{ type: "cpu", metricType: "Utilization", metadata: { value: "80" } }],
      },
    };
    expect(describeFindings(await check(chartWith(scaledObject)))).toEqual([]);
    const beyond = await check(
      chartWith(scaledObject) + (await readFile(path.join(dir, "extra-broker.yaml"), "utf8")),
    );
    expect(json(beyond).findings.find((f) => f.rule === "ordinal-out-of-range")?.message).toBe(
      "Service data/kafka-controller-5-external selects pod kafka-controller-5, but StatefulSet " +
        "kafka-controller has up to 5 replicas (ordinals 0-4), autoscaled 3–5 by ScaledObject " +
        "kafka-controller; raise maxReplicaCount of ScaledObject kafka-controller or select an " +
        "ordinal in that range",
    );
  });
});

describe("stsguard fix over the autoscaled chart", () => {
  let work: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    work = await makeTempDir();
    // The chart as Bitnami renders it without the stsguard labels on the external Services.
    await writeFile(
      path.join(work.dir, "kafka.yaml"),
      kafka.replace(/^ {4}stsguard\.io\/.*\n/gm, ""),
    );
    await cp(path.join(dir, "extra-broker.yaml"), path.join(work.dir, "extra-broker.yaml"));
  });

  afterAll(async () => {
    await work.remove();
  });

  it("labels the brokers' Services and leaves only the Service beyond maxReplicas to fix by hand", async () => {
    const run = await runBuiltCli(["fix", "."], { cwd: work.dir });
    expect(run).toEqual({
      code: 0,
      stdout: "fixed kafka.yaml: 3 Services\n",
      stderr: "stsguard: fixed 1 of 2 files; 1 finding needs a manual fix (see stsguard check)\n",
    });
    expect(await readFile(path.join(work.dir, "kafka.yaml"), "utf8")).toBe(kafka);
  });
});
