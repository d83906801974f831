/**
 * `stsguard audit`, the built CLI as a child process, against the fake API server holding a few
 * hundred StatefulSets and Services across ten namespaces with known findings.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import Ajv04 from "ajv-draft-04";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, repoRoot, runBuiltCli, type CliRun } from "../cli/built-cli.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import {
  EXPECTED_FINDINGS,
  PER_POD_SERVICES,
  STATEFULSETS,
  seedAuditCluster,
} from "./audit-cluster.js";

interface JsonFinding {
  readonly rule: string;
  readonly severity: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly message: string;
  readonly fixable: boolean;
  readonly file?: string;
}

interface JsonReport {
  readonly summary: Record<string, number>;
  readonly findings: JsonFinding[];
}

const CHUNK = 60;

describe("stsguard audit (built CLI against a fake API server)", () => {
  let fake: FakeApiServer;
  let work: { dir: string; remove: () => Promise<void> };
  const runs: Record<string, CliRun> = {};
  let listRequests: { path: string; query: Readonly<Record<string, string>> }[] = [];

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    fake.setVersion({ major: "1", minor: "30", gitVersion: "v1.30.2" });
    seedAuditCluster(fake);
    work = await makeTempDir("stsguard-audit-");
    await writeFile(path.join(work.dir, "kubeconfig"), renderKubeconfig(fake.url));
    const audit = (...args: string[]): Promise<CliRun> =>
      runBuiltCli(["audit", "--kubeconfig", "kubeconfig", "--chunk-size", String(CHUNK), ...args], {
        cwd: work.dir,
      });
    const [json, text, sarif, github, junit] = await Promise.all(
      ["json", "text", "sarif", "github", "junit"].map((format) => audit("-o", format)),
    );
    listRequests = fake.requests.filter((r) => r.method === "GET" && !r.watch);
    const [clean, warningsOnly, warningsStrict, twoNamespaces] = await Promise.all([
      audit("-o", "json", "-n", "ns-0"),
      audit("-o", "json", "-n", "ns-2"),
      audit("-o", "json", "-n", "ns-2", "--strict"),
      audit("-o", "json", "-n", "ns-3", "-n", "ns-4"),
    ]);
    await writeFile(path.join(work.dir, "down"), renderKubeconfig("http://127.0.0.1:9"));
    const down = await runBuiltCli(["audit", "--kubeconfig", "down", "--kube-version", "1.30"], {
      cwd: work.dir,
    });
    Object.assign(runs, {
      json,
      text,
      sarif,
      github,
      junit,
      clean,
      warningsOnly,
      warningsStrict,
      twoNamespaces,
      down,
    });
  }, 120_000);

  afterAll(async () => {
    await fake.close();
    await work.remove();
  });

  const run = (name: string): CliRun => {
    const found = runs[name];
    if (!found) throw new Error(`no run ${name}`);
    return found;
  };
  const parse = (name: string): JsonReport => JSON.parse(run(name).stdout) as JsonReport;
  const describeFindings = (name: string): string[] =>
    parse(name)
      .findings.map((f) => `${f.namespace}/${f.name} ${f.rule} ${f.severity}`)
      .sort();

  it("finds exactly the known findings among a few hundred objects, and exits 1", () => {
    expect(describeFindings("json")).toEqual(EXPECTED_FINDINGS);
    expect(parse("json").summary).toEqual({
      objects: STATEFULSETS + PER_POD_SERVICES,
      perPodServices: PER_POD_SERVICES,
      errors: 5,
      warnings: 6,
    });
    expect(run("json").code).toBe(1);
  });

  it("judges with the ordinals an HPA may scale a StatefulSet to, as admission does", () => {
    const messages = parse("json")
      .findings.filter((f) => f.namespace === "ns-6" || f.namespace === "ns-7")
      .map((f) => `${f.rule}: ${f.message}`)
      .sort();
    expect(messages).toEqual([
      "ordinal-out-of-range: Service ns-6/app-4-2 selects pod app-4-2, but StatefulSet app-4 has " +
        "up to 2 replicas (ordinals 0-1), autoscaled 1–2 by HorizontalPodAutoscaler app-4; raise " +
        "maxReplicas of HorizontalPodAutoscaler app-4 or select an ordinal in that range",
      "ordinal-out-of-range: Service ns-7/app-5-2 selects pod app-5-2, but StatefulSet app-5 has " +
        "2 replicas (ordinals 0-1); scale it up or select an existing ordinal",
      "orphaned-service: StatefulSet ns-6/app-4 will have up to 2 replicas (ordinals 0-1), " +
        "autoscaled 1–2 by HorizontalPodAutoscaler app-4, so Service app-4-2 selects pod app-4-2, " +
        "which will not exist; delete that Service or raise maxReplicas",
      "orphaned-service: StatefulSet ns-7/app-5 will have 2 replicas (ordinals 0-1), so Service " +
        "app-5-2 selects pod app-5-2, which will not exist; delete that Service or keep enough replicas",
    ]);
    expect(listRequests.map((r) => r.path)).toContain(
      "/apis/autoscaling/v2/horizontalpodautoscalers",
    );
  });

  it("places findings at namespace/name: no file, line or column in JSON", () => {
    for (const finding of parse("json").findings) {
      expect(Object.keys(finding)).toEqual([
        "rule",
        "severity",
        "kind",
        "namespace",
        "name",
        "message",
        "fixable",
      ]);
    }
  });

  it("says how many objects it judged, and reads in pages of --chunk-size", () => {
    expect(run("json").stderr).toContain(
      `stsguard audit: judged ${STATEFULSETS + PER_POD_SERVICES} objects (${STATEFULSETS} StatefulSets, ` +
        `${PER_POD_SERVICES} per-pod Services) in 10 namespaces, read in `,
    );
    const services = listRequests.filter((r) => r.path === "/api/v1/services");
    // 5 runs × ceil(501 Services / 60) pages.
    expect(services.length).toBe(5 * Math.ceil((PER_POD_SERVICES + STATEFULSETS - 1) / CHUNK));
    expect(services.every((r) => r.query["limit"] === String(CHUNK))).toBe(true);
    expect(services.filter((r) => r.query["continue"]).length).toBeGreaterThan(0);
    // Read-only: nothing but GETs.
    expect(fake.requests.every((r) => r.method === "GET")).toBe(true);
  });

  it("text: one group per object, the rule and message, then the summary", () => {
    const { stdout } = run("text");
    expect(stdout).toContain(
      "ns-1/app-0-1\n  error    ordinal-out-of-range  Service ns-1/app-0-1 selects pod app-0-1",
    );
    expect(stdout).toContain(
      "ns-3/app-1\n  warning  governing-service  StatefulSet ns-3/app-1 names governing Service app-1",
    );
    expect(stdout.trimEnd().split("\n").at(-1)).toBe(
      `5 errors, 6 warnings in ${PER_POD_SERVICES} per-pod Services and ${STATEFULSETS} StatefulSets in ${STATEFULSETS + PER_POD_SERVICES} objects.`,
    );
  });

  it("sarif: valid SARIF 2.1.0 with logical locations namespace/Kind/name", () => {
    const official = JSON.parse(
      readFileSync(
        path.join(repoRoot, "test/fixtures/sarif/sarif-2.1.0-rtm.5.schema.json"),
        "utf8",
      ),
    ) as object;
    const ajv = new Ajv04.default({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats.default(ajv);
    const validate = ajv.compile(official);
    const log = JSON.parse(run("sarif").stdout) as {
      runs: {
        results: {
          ruleId: string;
          locations: { logicalLocations?: { fullyQualifiedName: string }[] }[];
        }[];
      }[];
    };
    expect(validate(log), JSON.stringify(validate.errors, null, 2)).toBe(true);
    const results = log.runs[0]?.results ?? [];
    expect(results).toHaveLength(EXPECTED_FINDINGS.length);
    expect(
      results.map(
        (r) => `${r.locations[0]?.logicalLocations?.[0]?.fullyQualifiedName} ${r.ruleId}`,
      ),
    ).toContain("ns-4/Service/app-2-0 external-traffic-policy");
  });

  it("github: one annotation per finding, titled with the rule and the object", () => {
    const lines = run("github").stdout.split("\n");
    expect(lines.filter((l) => l.startsWith("::error ")).length).toBe(5);
    expect(lines.filter((l) => l.startsWith("::warning ")).length).toBe(6);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^::error title=external-traffic-policy ns-4\/app-2-0::Service ns-4\/app-2-0 is LoadBalancer/,
      ),
    );
  });

  it("junit: one test case per per-pod Service and per StatefulSet with findings", () => {
    const { stdout } = run("junit");
    const cases = stdout.match(/<testcase /g) ?? [];
    // ns-1/app-0, ns-3/app-1, ns-6/app-4 and ns-7/app-5 have findings.
    expect(cases.length).toBe(PER_POD_SERVICES + 4);
    expect(stdout).toMatch(/<testsuites name="stsguard" tests="\d+" failures="5" errors="0">/);
    expect(stdout).toContain('<testcase classname="ns-1/app-0-1" name="Service ns-1/app-0-1">');
    expect(stdout).not.toContain(' line="0"');
  });

  it("exit codes as check: 0 clean, 0 warnings only, 1 warnings with --strict", () => {
    expect(run("clean").code).toBe(0);
    expect(parse("clean").findings).toEqual([]);
    expect(run("warningsOnly").code).toBe(0);
    expect(describeFindings("warningsOnly")).toEqual([
      "ns-2/lonely-0 statefulset-not-found warning",
    ]);
    expect(run("warningsStrict").code).toBe(1);
  });

  it("-n is repeatable and reads only the namespaces given", () => {
    expect(describeFindings("twoNamespaces")).toEqual([
      "ns-3/app-1 governing-service warning",
      "ns-4/app-2-0 external-traffic-policy error",
    ]);
    expect(run("twoNamespaces").stderr).toContain("in 2 namespaces");
    const paths = fake.requests.map((r) => r.path);
    expect(paths).toContain("/api/v1/namespaces/ns-3/services");
    expect(paths).toContain("/apis/apps/v1/namespaces/ns-4/statefulsets");
  });

  it("exits 2 with one clear line when the API server cannot be reached", () => {
    expect(run("down").code).toBe(2);
    expect(run("down").stdout).toBe("");
    expect(run("down").stderr).toMatch(
      /^stsguard: cannot list \/apis\/apps\/v1\/statefulsets: .*ECONNREFUSED/,
    );
  });
});
