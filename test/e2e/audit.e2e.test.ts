/**
 * `stsguard audit` (the built CLI) against a real 1.26 API server holding good and bad per-pod
 * Services and StatefulSets, run as the chart's audit CronJob runs it: its ServiceAccount and
 * RBAC, its configuration file. Every output format is compared whole with test/e2e/expected/.
 * Then `serve`, running with the webhook's RBAC over the same cluster, must count the same
 * findings in its `stsguard_cluster_findings` gauge, and follow when the cluster changes.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import Ajv04 from "ajv-draft-04";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { EXTERNAL_METRICS, analysePromQl, renderAlertRules } from "../chart/prometheus-rules.js";
import { GOVERNING_SERVICE_CASES } from "../policy/governing-service-cases.js";
import {
  AUDIT_CONFIG,
  auditValues,
  installAudit,
  seedAuditCluster,
  seedAutoscaled,
  type AuditRunner,
} from "./support/audit.js";
import { installRbac, serviceAccountKubeconfig } from "./support/chart.js";
import { eventually, startCluster, type Cluster, type CommandResult } from "./support/cluster.js";
import { repoRoot } from "./support/paths.js";
import { horizontalPodAutoscaler } from "./support/objects.js";
import { makeWorkDir, runCli, startServe, type ServeProcess } from "./support/stsguard.js";

let cluster: Cluster | undefined;
let serve: ServeProcess | undefined;
let runner: AuditRunner;
const runs = new Map<string, CommandResult>();

const expected = (file: string): string =>
  readFileSync(path.join(repoRoot, "test/e2e/expected", file), "utf8");

function runOf(format: string): CommandResult {
  const found = runs.get(format);
  if (!found) throw new Error(`no audit run for ${format}`);
  return found;
}

interface JsonReport {
  readonly summary: Record<string, number>;
  readonly findings: readonly {
    readonly rule: string;
    readonly severity: string;
    readonly kind: string;
    readonly namespace: string;
    readonly name: string;
    readonly message: string;
  }[];
}

beforeAll(async () => {
  cluster = await startCluster();
  runner = await installAudit(cluster, auditValues());
  await seedAuditCluster(cluster);
  await seedAutoscaled(cluster);
  const formats = ["text", "json", "sarif", "github", "junit"];
  const results = await Promise.all(formats.map((format) => runner.audit("-o", format)));
  formats.forEach((format, i) => runs.set(format, results[i] as CommandResult));
});

afterAll(async () => {
  await serve?.stop();
  await cluster?.stop();
});

describe("stsguard audit with the audit CronJob's ServiceAccount", () => {
  it("judges every namespace and exits 1 on errors; standard error says how much it read", () => {
    for (const run of runs.values()) {
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `stsguard audit: judged 36 objects (10 StatefulSets, 26 per-pod Services) in 6 namespaces, read in 3 pages from ${String(cluster?.apiserverUrl)}\n`,
      );
    }
  });

  it("json: the exact findings, placed at namespace/name", () => {
    const report = JSON.parse(runOf("json").stdout) as JsonReport;
    expect(report).toEqual(JSON.parse(expected("audit.json")));
    expect(report.summary).toEqual({ objects: 36, perPodServices: 26, errors: 8, warnings: 8 });
  });

  it("judges with the ordinals an HPA may scale a StatefulSet to, as admission does", () => {
    const report = JSON.parse(runOf("json").stdout) as JsonReport;
    // broker, scaled in to 1 by its HPA (1–3), has none: the HPA may scale it out again.
    expect(
      report.findings
        .filter((f) => f.namespace === "autoscaled")
        .map((f) => `${f.rule} ${f.severity} ${f.name}: ${f.message}`),
    ).toEqual([
      "ordinal-out-of-range error api-2: Service autoscaled/api-2 selects pod api-2, but " +
        "StatefulSet api has 2 replicas (ordinals 0-1); scale it up or select an existing ordinal",
      "ordinal-out-of-range error search-2: Service autoscaled/search-2 selects pod search-2, but " +
        "StatefulSet search has up to 2 replicas (ordinals 0-1), autoscaled 1–2 by " +
        "HorizontalPodAutoscaler search; raise maxReplicas of HorizontalPodAutoscaler search or " +
        "select an ordinal in that range",
      "orphaned-service warning api: StatefulSet autoscaled/api will have 2 replicas (ordinals " +
        "0-1), so Service api-2 selects pod api-2, which will not exist; delete that Service or " +
        "keep enough replicas",
      "orphaned-service warning search: StatefulSet autoscaled/search will have up to 2 replicas " +
        "(ordinals 0-1), autoscaled 1–2 by HorizontalPodAutoscaler search, so Service search-2 " +
        "selects pod search-2, which will not exist; delete that Service or raise maxReplicas",
    ]);
  });

  it("text: exactly the expected report", () => {
    expect(runOf("text").stdout).toBe(expected("audit.txt"));
  });

  it("github: exactly the expected annotations", () => {
    expect(runOf("github").stdout).toBe(expected("audit.github.txt"));
  });

  it("junit: exactly the expected XML", () => {
    expect(runOf("junit").stdout).toBe(expected("audit.junit.xml"));
  });

  it("sarif: valid SARIF 2.1.0, exactly the expected log", () => {
    const log = JSON.parse(runOf("sarif").stdout) as {
      runs: { originalUriBaseIds: Record<string, { uri: string }> }[];
    };
    const schema = JSON.parse(
      readFileSync(
        path.join(repoRoot, "test/fixtures/sarif/sarif-2.1.0-rtm.5.schema.json"),
        "utf8",
      ),
    ) as object;
    const ajv = new Ajv04.default({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    expect(validate(log), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The working directory is where the log says file paths are relative to; audit has none.
    const base = log.runs[0]?.originalUriBaseIds["%SRCROOT%"];
    if (base) base.uri = "file:///<cwd>/";
    expect(log).toEqual(JSON.parse(expected("audit.sarif")));
  });

  it("-n reads only the namespaces given; warnings alone exit 0, with --strict 1", async () => {
    const loose = await runner.audit("-o", "json", "-n", "loose");
    expect(loose.code).toBe(0);
    expect(
      (JSON.parse(loose.stdout) as JsonReport).findings.map((f) => `${f.rule} ${f.name}`),
    ).toEqual(["statefulset-not-found lonely-0", "governing-service orders"]);
    expect(loose.stderr).toContain(
      "judged 2 objects (1 StatefulSet, 1 per-pod Service) in 1 namespace",
    );
    const strict = await runner.audit("-o", "json", "-n", "loose", "--strict");
    expect(strict.code).toBe(1);
    const two = await runner.audit("-o", "json", "-n", "clean", "-n", "legacy");
    expect(two.code).toBe(0);
    expect(
      (JSON.parse(two.stdout) as JsonReport).findings.map(
        (f) => `${f.namespace}/${f.name} ${f.rule} ${f.severity}`,
      ),
    ).toEqual(["legacy/web-4 ordinal-out-of-range warning", "legacy/web orphaned-service warning"]);
  });

  it("lists in pages of --chunk-size, following the API server's continue tokens", async () => {
    const paged = await runner.audit("-o", "json", "-n", "clean", "--chunk-size", "2");
    expect(paged.code).toBe(0);
    // 3 StatefulSets in 2 pages, no HorizontalPodAutoscaler in 1, 10 Services (3 headless,
    // 7 per-pod) in 5.
    expect(paged.stderr).toBe(
      `stsguard audit: judged 10 objects (3 StatefulSets, 7 per-pod Services) in 1 namespace, read in 8 pages from ${String(cluster?.apiserverUrl)}\n`,
    );
    expect((JSON.parse(paged.stdout) as JsonReport).summary).toEqual({
      objects: 10,
      perPodServices: 7,
      errors: 0,
      warnings: 0,
    });
  });

  it("the audit ServiceAccount reads what audit reads, and may not write Services or StatefulSets", async () => {
    const api = cluster as Cluster;
    const canI = async (verb: string, resource: string): Promise<string> =>
      (
        await api.kubectl(
          [
            "auth",
            "can-i",
            verb,
            resource,
            "-A",
            "--as",
            `system:serviceaccount:stsguard-system:guard-stsguard-audit`,
          ],
          { allowFailure: true },
        )
      ).stdout.trim();
    expect(await canI("list", "statefulsets.apps")).toBe("yes");
    expect(await canI("list", "services")).toBe("yes");
    expect(await canI("list", "horizontalpodautoscalers.autoscaling")).toBe("yes");
    expect(await canI("watch", "services")).toBe("no");
    expect(await canI("update", "horizontalpodautoscalers.autoscaling")).toBe("no");
    expect(await canI("update", "services")).toBe("no");
    expect(await canI("update", "statefulsets.apps")).toBe("no");
  });
});

/** Manifests checked against the cluster: namespace clean holds web (3 pods) and db (5-6). */
const CHECKED = `apiVersion: v1
kind: Service
metadata:
  name: db-7
  labels: {stsguard.io/statefulset: db, stsguard.io/ordinal: "7"}
spec:
  selector: {statefulset.kubernetes.io/pod-name: db-7}
---
apiVersion: v1
kind: Service
metadata:
  name: db-6
  labels: {stsguard.io/statefulset: db, stsguard.io/ordinal: "6"}
spec:
  selector: {statefulset.kubernetes.io/pod-name: db-6}
---
apiVersion: v1
kind: Service
metadata:
  name: web-0
  labels: {stsguard.io/statefulset: web, stsguard.io/ordinal: "0"}
spec:
  selector: {statefulset.kubernetes.io/pod-name: web-0}
  externalIPs: [203.0.113.7]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 1
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}
`;

interface CheckFinding {
  readonly rule: string;
  readonly severity: string;
  readonly kind: string;
  readonly name: string;
  readonly line: number;
  readonly message: string;
}

describe("stsguard check --cluster over the same cluster, with exactly the rights docs/ci.md names", () => {
  let work: string;
  let kubeconfig: string;
  const check = (...args: string[]): Promise<CommandResult> =>
    runCli(["check", "-o", "json", "--cluster", "--kubeconfig", kubeconfig, ...args], {
      cwd: work,
    });
  const findingsOf = (run: CommandResult): string[] =>
    (JSON.parse(run.stdout) as { findings: CheckFinding[] }).findings.map(
      (f) => `${f.line} ${f.rule} ${f.severity} ${f.name}`,
    );

  beforeAll(async () => {
    const api = cluster as Cluster;
    // get on statefulsets, get and list on services, list on horizontalpodautoscalers: nothing
    // else.
    await api.apply([
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "ci", namespace: "default" } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "stsguard-check" },
        rules: [
          { apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get"] },
          { apiGroups: [""], resources: ["services"], verbs: ["get", "list"] },
          { apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers"], verbs: ["list"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "stsguard-check" },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "stsguard-check",
        },
        subjects: [{ kind: "ServiceAccount", name: "ci", namespace: "default" }],
      },
    ]);
    kubeconfig = await serviceAccountKubeconfig(api, "default", "ci");
    work = await makeWorkDir("check");
    writeFileSync(path.join(work, "manifests.yaml"), CHECKED);
  });

  it("resolves the StatefulSets the files lack, and the per-pod and governing Services, in the cluster", async () => {
    const run = await check("-n", "clean", "manifests.yaml");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(1);
    // 1.26, read from the cluster: a ClusterIP Service with externalIPs takes no
    // externalTrafficPolicy there, so web-0 has no finding; web's governing Service is there.
    expect(findingsOf(run)).toEqual([
      "7 ordinal-out-of-range error db-7",
      "32 orphaned-service warning web",
      "32 orphaned-service warning web",
    ]);
    const messages = (JSON.parse(run.stdout) as { findings: CheckFinding[] }).findings.map(
      (f) => f.message,
    );
    expect(messages.slice(1)).toEqual([
      "StatefulSet clean/web will have 1 replica (ordinal 0), so Service web-1 selects pod web-1, which will not exist; delete that Service or keep enough replicas",
      "StatefulSet clean/web will have 1 replica (ordinal 0), so Service web-2 selects pod web-2, which will not exist; delete that Service or keep enough replicas",
    ]);
  });

  describe("governing-service: a Service the files lack is missing from the cluster, not unresolved", () => {
    it.each(GOVERNING_SERVICE_CASES)("$name", async (row) => {
      const file = `${row.name.replaceAll(" ", "-")}.yaml`;
      const documents = [row.statefulSet, ...(row.service ? [row.service] : [])];
      writeFileSync(path.join(work, file), documents.map((d) => stringify(d)).join("---\n"));
      const run = await check(file);
      expect(run.stderr).toBe("");
      // A warning by default: exit 0.
      expect(run.code).toBe(0);
      const findings = (JSON.parse(run.stdout) as { findings: CheckFinding[] }).findings;
      if (row.expected === null) {
        expect(findings).toEqual([]);
        return;
      }
      expect(findings.map((f) => `${f.kind} ${f.name} ${f.rule}`)).toEqual([
        "StatefulSet web governing-service",
      ]);
      expect(findings[0]?.message).toContain(row.expected);
      if (row.name === "Service in another namespace") {
        expect(findings[0]?.message).toContain("a Service of that name exists in namespace other");
      }
    });
  });
});

/** Every `stsguard_cluster_findings` sample, as `rule severity` → value. */
function clusterFindings(scrape: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const match of scrape.matchAll(
    /^stsguard_cluster_findings\{rule="([^"]+)",severity="([^"]+)"\} (\S+)$/gm,
  )) {
    found[`${match[1]} ${match[2]}`] = Number(match[3]);
  }
  return found;
}

describe("the findings gauge of serve over the same cluster", () => {
  beforeAll(async () => {
    const api = cluster as Cluster;
    const kubeconfig = await installRbac(api);
    serve = await startServe({ kubeconfig, config: AUDIT_CONFIG });
  });

  it("counts what audit found, for the rules a cache summary is enough for", async () => {
    const scrape = await (serve as ServeProcess).metrics();
    const gauge = clusterFindings(scrape);
    expect(gauge).toEqual({
      "statefulset-not-found error": 0,
      "statefulset-not-found warning": 1,
      "ordinal-out-of-range error": 4,
      "ordinal-out-of-range warning": 1,
      "selector-mismatch error": 1,
      "selector-mismatch warning": 0,
      "orphaned-service error": 0,
      "orphaned-service warning": 5,
      "governing-service error": 0,
      "governing-service warning": 1,
    });
    const fromAudit: Record<string, number> = {};
    for (const key of Object.keys(gauge)) fromAudit[key] = 0;
    for (const finding of (JSON.parse(runOf("json").stdout) as JsonReport).findings) {
      const key = `${finding.rule} ${finding.severity}`;
      if (key in fromAudit) fromAudit[key] = (fromAudit[key] ?? 0) + 1;
    }
    expect(gauge).toEqual(fromAudit);
  });

  it("follows the cluster: kafka scaled back to 3 leaves no out-of-range Service there", async () => {
    const api = cluster as Cluster;
    await api.kubectl(["scale", "statefulset", "kafka", "-n", "scaled", "--replicas=3"]);
    // What is left: autoscaled's api-2 and search-2 (errors, each with its orphaned-service
    // warning) and legacy's exempted web-4.
    const gauge = await eventually(async () => {
      const found = clusterFindings(await (serve as ServeProcess).metrics());
      return found["ordinal-out-of-range error"] === 2 ? found : undefined;
    }, "the gauge to drop kafka's findings");
    expect(gauge["orphaned-service warning"]).toBe(3);
    expect(gauge["ordinal-out-of-range warning"]).toBe(1);
    const audit = await runner.audit("-o", "json", "-n", "scaled");
    expect(audit.code).toBe(0);
    expect((JSON.parse(audit.stdout) as JsonReport).findings).toEqual([]);
  });

  it("follows an HPA: search's maxReplicas raised to 3 brings search-2 within reach", async () => {
    const api = cluster as Cluster;
    await api.apply([horizontalPodAutoscaler("autoscaled", "search", { min: 1, max: 3 })]);
    const gauge = await eventually(async () => {
      const found = clusterFindings(await (serve as ServeProcess).metrics());
      return found["ordinal-out-of-range error"] === 1 ? found : undefined;
    }, "the gauge to drop search-2's findings");
    expect(gauge["orphaned-service warning"]).toBe(2);
    const audit = await runner.audit("-o", "json", "-n", "autoscaled");
    expect(
      (JSON.parse(audit.stdout) as JsonReport).findings.map((f) => `${f.rule} ${f.name}`),
    ).toEqual(["ordinal-out-of-range api-2", "orphaned-service api"]);
  });

  it("has a sample of every metric the chart's alerts use (the API server's own excepted)", async () => {
    const scrape = await (serve as ServeProcess).metrics();
    const sampled = (metric: string): boolean =>
      scrape
        .split("\n")
        .some((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `));
    const used = new Set(renderAlertRules().flatMap((rule) => analysePromQl(rule.expr).metrics));
    expect([...used].filter((metric) => !EXTERNAL_METRICS.has(metric) && !sampled(metric))).toEqual(
      [],
    );
    expect(used.has("apiserver_admission_webhook_rejection_count")).toBe(true);
    const expiry = Number(
      /^stsguard_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(scrape)?.[1],
    );
    // Development certificates are made valid for a while from now.
    expect(expiry).toBeGreaterThan(Date.now() / 1000 + 24 * 3600);
  });
});
