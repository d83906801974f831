import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { manifestsDir, runBuiltCli, type CliRun } from "./built-cli.js";
import { runInProcess } from "./in-process-cli.js";

const dir = path.join(manifestsDir, "generate");
const kafka = readFileSync(path.join(dir, "kafka.yaml"), "utf8");
const runs: Record<string, CliRun> = {};

beforeAll(async () => {
  const [full, nodePort, numeric, noPorts, unknownPort] = await Promise.all([
    runBuiltCli(["generate", "--config", "stsguard.yaml", "kafka.yaml"], { cwd: dir }),
    runInProcess(["generate", "--type", "NodePort", "--port", "client", "-"], {
      cwd: dir,
      stdin: kafka,
    }),
    runInProcess(["generate", "--port", "8443", "--port", "metrics", "kafka.yaml"], { cwd: dir }),
    runInProcess(["generate", "no-ports.yaml"], { cwd: dir }),
    runInProcess(["generate", "--port", "admin", "kafka.yaml"], { cwd: dir }),
  ]);
  Object.assign(runs, { full, nodePort, numeric, noPorts, unknownPort });
  // The generated Services, checked together with their StatefulSet, as `generate | check -`.
  runs["checked"] = await runBuiltCli(
    ["check", "-o", "json", "--config", "stsguard.yaml", "-", "kafka.yaml"],
    { cwd: dir, stdin: full.stdout },
  );
}, 120_000);

function readServices(name: string): Record<string, unknown>[] {
  return parseAllDocuments(runs[name]?.stdout ?? "").map(
    (d) => d.toJS() as Record<string, unknown>,
  );
}

describe("stsguard generate", () => {
  it("prints one Service per ordinal from spec.ordinals.start, complete and correct", () => {
    expect(runs["full"]?.code).toBe(0);
    const generated = readServices("full");
    expect(generated.map((s) => (s["metadata"] as { name: string }).name)).toEqual([
      "kafka-3",
      "kafka-4",
    ]);
    expect(generated[0]).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "kafka-3",
        namespace: "streaming",
        labels: {
          "example.com/statefulset": "kafka",
          "example.com/ordinal": "3",
          "managed-by": "stsguard",
          team: "data",
        },
      },
      spec: {
        type: "LoadBalancer",
        externalTrafficPolicy: "Local",
        selector: { "statefulset.kubernetes.io/pod-name": "kafka-3" },
        ports: [
          { name: "client", protocol: "TCP", port: 9094, targetPort: "client" },
          { name: "udp-9999", protocol: "UDP", port: 9999, targetPort: 9999 },
          { name: "metrics", protocol: "TCP", port: 9308, targetPort: "metrics" },
        ],
      },
    });
  });

  it("passes check with no finding at all (generate | check -)", () => {
    expect(runs["checked"]?.code).toBe(0);
    const report = JSON.parse(runs["checked"]?.stdout ?? "") as {
      summary: unknown;
      findings: unknown[];
    };
    expect(report.findings).toEqual([]);
    expect(report.summary).toEqual({ objects: 3, perPodServices: 2, errors: 0, warnings: 0 });
  });

  it("reads standard input and honours --type and a --port given by name", () => {
    expect(runs["nodePort"]?.code).toBe(0);
    const [first] = readServices("nodePort");
    expect(first?.["spec"]).toMatchObject({
      type: "NodePort",
      ports: [{ name: "client", protocol: "TCP", port: 9094, targetPort: "client" }],
    });
    expect((first?.["metadata"] as { labels: unknown }).labels).toEqual({
      "stsguard.io/statefulset": "kafka",
      "stsguard.io/ordinal": "3",
    });
  });

  it("exposes a --port number the template lacks as is, naming ports when there are several", () => {
    const [first] = readServices("numeric");
    expect((first?.["spec"] as { ports: unknown }).ports).toEqual([
      { name: "tcp-8443", protocol: "TCP", port: 8443, targetPort: 8443 },
      { name: "metrics", protocol: "TCP", port: 9308, targetPort: "metrics" },
    ]);
  });

  const failures = [
    {
      name: "a StatefulSet without container ports and no --port",
      run: "noPorts",
      message: "StatefulSet quiet declares no container ports; say which with --port",
    },
    {
      name: "a --port name the template does not have",
      run: "unknownPort",
      message: "--port admin: StatefulSet kafka has no container port named admin",
    },
  ];
  it.each(failures)("exits 2 for $name", ({ run, message }) => {
    expect(runs[run]?.code).toBe(2);
    expect(runs[run]?.stderr).toContain(message);
    expect(runs[run]?.stdout).toBe("");
  });
});
