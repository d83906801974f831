/**
 * An autoscaled StatefulSet against kube-apiserver 1.26 with the HPA controller running: the
 * chart's webhooks (and RBAC, which now lists and watches HPAs) judge per-pod Services and scales
 * with the ordinals the HorizontalPodAutoscaler may scale to; `check --cluster` reads the HPA from
 * the cluster; `stsguard audit` (as the chart's audit ServiceAccount) and the findings gauge agree.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  installRbac,
  installWebhooks,
  RELEASE,
  serviceAccountKubeconfig,
  RELEASE_NAMESPACE,
  waitForWebhooks,
} from "./support/chart.js";
import { eventually, startCluster, toYaml, type Cluster } from "./support/cluster.js";
import { makeWorkDir, runCli, startServe, type ServeProcess } from "./support/stsguard.js";

const NS = "data";
const STS = "kafka-controller";

let cluster: Cluster | undefined;
let serve: ServeProcess | undefined;
let api: Cluster;
let webhookKubeconfig: string;
let auditKubeconfig: string;

const statefulSet = {
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: { name: STS, namespace: NS },
  // No spec.replicas: the HorizontalPodAutoscaler owns it, as in Bitnami's kafka chart.
  spec: {
    serviceName: `${STS}-headless`,
    podManagementPolicy: "Parallel",
    selector: { matchLabels: { app: "kafka" } },
    template: {
      metadata: { labels: { app: "kafka" } },
      spec: { containers: [{ name: "kafka", image: "bitnami/kafka:3.9.0" }] },
    },
  },
};

const headlessService = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: `${STS}-headless`, namespace: NS },
  spec: { clusterIP: "None", selector: { app: "kafka" }, ports: [{ port: 9094 }] },
};

function hpa(maxReplicas: number): object {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: STS, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: STS },
      minReplicas: 3,
      maxReplicas,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ],
    },
  };
}

/** The external Service of one broker, as the chart renders it (no stsguard labels). */
function brokerService(ordinal: number): object {
  const pod = `${STS}-${ordinal}`;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `${pod}-external`, namespace: NS },
    spec: {
      type: "LoadBalancer",
      selector: { app: "kafka", "statefulset.kubernetes.io/pod-name": pod },
      ports: [{ name: "tcp-kafka", port: 9094 }],
    },
  };
}

async function replicas(): Promise<number | undefined> {
  const found = await api.get<{ spec: { replicas?: number } }>("statefulset", STS, NS);
  return found?.spec.replicas;
}

interface AuditReport {
  readonly summary: Record<string, number>;
  readonly findings: { rule: string; severity: string; name: string; message: string }[];
}

async function audit(): Promise<AuditReport> {
  const result = await runCli(["audit", "-n", NS, "-o", "json", "--kubeconfig", auditKubeconfig]);
  if (result.code !== 0 && result.code !== 1) {
    throw new Error(`stsguard audit exited ${String(result.code)}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as AuditReport;
}

beforeAll(async () => {
  // Only the HPA controller: it scales the StatefulSet through statefulsets/scale, through the
  // webhook, as system:kube-controller-manager. With no metrics server it can only clamp the
  // replicas into [minReplicas, maxReplicas], which is all this test needs of it.
  api = cluster = await startCluster({
    controllerManager: true,
    // A short sync period: the first reconcile of a new HPA otherwise waits up to 15 s.
    kcmFlags: "--controllers=horizontalpodautoscaling --horizontal-pod-autoscaler-sync-period=2s",
  });
  webhookKubeconfig = await installRbac(api);
  await installRbac(api, { audit: { enabled: true } });
  auditKubeconfig = await serviceAccountKubeconfig(
    api,
    RELEASE_NAMESPACE,
    `${RELEASE}-stsguard-audit`,
  );
  // At debug: a plain allow, as the HPA controller's scale must be, is logged only there.
  serve = await startServe({ kubeconfig: webhookKubeconfig, args: ["--log-level", "debug"] });
  await installWebhooks(api, serve);
  await api.createNamespace(NS);
  await waitForWebhooks(api, NS);
});

afterAll(async () => {
  await serve?.stop();
  await cluster?.stop();
});

describe("an autoscaled StatefulSet on a real API server", () => {
  it("lets the HPA controller scale a StatefulSet without spec.replicas up to minReplicas", async () => {
    await api.apply([statefulSet, hpa(5), headlessService]);
    // The API server defaults the unset field to 1; the HPA controller scales it to 3.
    expect(await eventually(async () => ((await replicas()) === 3 ? true : undefined), "3")).toBe(
      true,
    );
    const scales = serve
      ?.logs()
      .filter((line) => line["msg"] === "admission" && line["kind"] === "Scale");
    // No rule fired on the HPA controller's scale (the log line leaves `rules` out then), and a
    // plain allow stays out of the info log.
    expect(
      scales?.map((l) => [l["name"], l["operation"], l["decision"], l["rules"], l["level"]]),
    ).toEqual([[STS, "UPDATE", "allowed", undefined, "debug"]]);
  });

  it("admits a per-pod Service for every ordinal below maxReplicas, and denies the one beyond", async () => {
    const admitted = await api.apply([0, 1, 2, 3, 4].map(brokerService));
    expect(admitted.stderr).toBe("");
    const stored = await api.get<{
      metadata: { labels: Record<string, string> };
      spec: { externalTrafficPolicy: string };
    }>("service", `${STS}-4-external`, NS);
    expect(stored?.spec.externalTrafficPolicy).toBe("Local");
    expect(stored?.metadata.labels).toMatchObject({
      "stsguard.io/statefulset": STS,
      "stsguard.io/ordinal": "4",
    });

    const denied = await api.apply([brokerService(5)], { allowFailure: true });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      `admission webhook "validate.stsguard.io" denied the request: ordinal-out-of-range: ` +
        `Service data/${STS}-5-external selects pod ${STS}-5, but StatefulSet ${STS} has up to 5 ` +
        `replicas (ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler ${STS}; raise ` +
        `maxReplicas of HorizontalPodAutoscaler ${STS} or select an ordinal in that range\n`,
    );
    expect(await api.get("service", `${STS}-5-external`, NS)).toBeNull();
  });

  it("draws no orphaned-service warning for a scale within the HPA's reach, and warns at 0", async () => {
    for (const count of [5, 3]) {
      const scaled = await api.kubectl([
        "scale",
        "statefulset",
        STS,
        "-n",
        NS,
        `--replicas=${count}`,
      ]);
      expect(scaled.stderr).toBe("");
      expect(scaled.stdout).toBe(`statefulset.apps/${STS} scaled\n`);
    }
    const zero = await api.kubectl(["scale", "statefulset", STS, "-n", NS, "--replicas=0"]);
    expect(zero.stderr.split("\n").filter(Boolean)).toEqual(
      [0, 1, 2, 3, 4].map(
        (ordinal) =>
          `Warning: orphaned-service: StatefulSet data/${STS} will have 0 replicas (no pods; ` +
          `autoscaling is off at 0), so Service ${STS}-${ordinal}-external selects pod ` +
          `${STS}-${ordinal}, which will not exist; delete that Service or keep enough replicas`,
      ),
    );
    const back = await api.kubectl(["scale", "statefulset", STS, "-n", NS, "--replicas=3"]);
    expect(back.stderr).toBe("");
  });

  // Whether the webhook's HPA cache has seen the change yet or not, the answer is the same: a
  // denial resting on the cache is confirmed live (test/admission/admit-autoscalers.test.ts makes
  // the cache lag on purpose, which a real API server cannot be made to do).
  it("admits a Service right after maxReplicas is raised", async () => {
    await api.apply([hpa(7)]);
    const admitted = await api.apply([brokerService(6)]);
    expect(admitted.stderr).toBe("");
    expect(await api.get("service", `${STS}-6-external`, NS)).not.toBeNull();
  });

  it("check --cluster reads the HPA from the cluster, and a bundle's HPA replaces it", async () => {
    const work = await makeWorkDir("check");
    const labelled = (ordinal: number): object => {
      const service = brokerService(ordinal) as { metadata: Record<string, unknown>; spec: object };
      return {
        ...service,
        metadata: {
          ...service.metadata,
          labels: { "stsguard.io/statefulset": STS, "stsguard.io/ordinal": String(ordinal) },
        },
        spec: { ...service.spec, externalTrafficPolicy: "Local" },
      };
    };
    await writeFile(path.join(work, "services.yaml"), toYaml([labelled(4), labelled(6)]));
    await writeFile(path.join(work, "beyond.yaml"), toYaml([labelled(7)]));
    const check = (...files: string[]) =>
      runCli(["check", "--kubeconfig", webhookKubeconfig, ...files], { cwd: work });

    expect(await check("services.yaml")).toMatchObject({
      code: 0,
      stdout: "No problems: 2 per-pod Services in 2 objects checked.\n",
    });
    const beyond = await check("beyond.yaml");
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toContain(
      `error    ordinal-out-of-range  Service data/${STS}-7-external selects pod ${STS}-7, but ` +
        `StatefulSet ${STS} has up to 7 replicas (ordinals 0-6), autoscaled 3–7 by ` +
        `HorizontalPodAutoscaler ${STS}; raise maxReplicas of HorizontalPodAutoscaler ${STS} or ` +
        `select an ordinal in that range`,
    );
    await writeFile(path.join(work, "hpa.yaml"), toYaml([hpa(8)]));
    expect(await check("beyond.yaml", "hpa.yaml")).toMatchObject({
      code: 0,
      stdout: "No problems: 1 per-pod Service in 2 objects checked.\n",
    });
  });

  it("a fresh install in Helm's order (Services, HPA, StatefulSet) draws no orphaned-service warning", async () => {
    const ns = "fresh";
    await api.createNamespace(ns);
    const inFresh = <T extends object>(object: T): T => ({
      ...object,
      metadata: { ...(object as { metadata: object }).metadata, namespace: ns },
    });
    // One kubectl apply, in Helm's install order: the Services before the HPA, the HPA just
    // before the StatefulSet, which arrives without spec.replicas (1) beside Services for 0–2.
    // (Whether the webhook's HPA cache has the HPA by then or a live read supplies it, here it
    // usually has; test/admission/admit-autoscalers.test.ts makes it lag on purpose.)
    const installed = await api.apply([
      inFresh(headlessService),
      ...[0, 1, 2].map((ordinal) => inFresh(brokerService(ordinal))),
      inFresh(hpa(5)),
      inFresh(statefulSet),
    ]);
    expect(installed.stderr.split("\n").filter(Boolean)).toEqual(
      [0, 1, 2].map(
        (ordinal) =>
          `Warning: statefulset-not-found: Service ${ns}/${STS}-${ordinal}-external selects pod ` +
          `${STS}-${ordinal}, but StatefulSet ${STS} does not exist in namespace ${ns}; create it ` +
          `or fix the selector`,
      ),
    );
  });

  it("audit and the findings gauge agree: nothing while the HPA covers every Service, then the one beyond", async () => {
    expect(await audit()).toEqual({
      summary: { objects: 7, perPodServices: 6, errors: 0, warnings: 0 },
      findings: [],
    });
    // The webhook does not judge HPA writes: lowering maxReplicas leaves broker 6 beyond it.
    await api.apply([hpa(5)]);
    const report = await audit();
    expect(report.summary).toEqual({ objects: 7, perPodServices: 6, errors: 1, warnings: 1 });
    expect(report.findings.map((f) => `${f.rule} ${f.severity} ${f.name}: ${f.message}`)).toEqual([
      `ordinal-out-of-range error ${STS}-6-external: Service data/${STS}-6-external selects pod ` +
        `${STS}-6, but StatefulSet ${STS} has up to 5 replicas (ordinals 0-4), autoscaled 3–5 by ` +
        `HorizontalPodAutoscaler ${STS}; raise maxReplicas of HorizontalPodAutoscaler ${STS} or ` +
        `select an ordinal in that range`,
      `orphaned-service warning ${STS}: StatefulSet data/${STS} will have up to 5 replicas ` +
        `(ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler ${STS}, so Service ` +
        `${STS}-6-external selects pod ${STS}-6, which will not exist; delete that Service or ` +
        `raise maxReplicas`,
    ]);
    const gauge = (text: string, rule: string, severity: string): number | undefined => {
      const line = text
        .split("\n")
        .find((l) =>
          l.startsWith(`stsguard_cluster_findings{rule="${rule}",severity="${severity}"}`),
        );
      return line === undefined ? undefined : Number(line.split(" ").pop());
    };
    await eventually(async () => {
      const text = (await serve?.metrics()) ?? "";
      return gauge(text, "ordinal-out-of-range", "error") === 1 &&
        gauge(text, "orphaned-service", "warning") === 1
        ? true
        : undefined;
    }, "the findings gauge to count broker 6");
  });
});
