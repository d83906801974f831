/**
 * The caches the webhook answers from, run in this process against a real 1.26 API server:
 * the cluster source (list+watch of StatefulSets, Services and the HorizontalPodAutoscalers of
 * StatefulSets, in pages, with live reads) and the namespace cache; then the HTTPS webhook on that
 * source, whose `stsguard_live_reads_total` shows it reads live only where a read can change the
 * answer. What the test API server of
 * test/kube and test/namespaces still does is what this server cannot be made to do: fail,
 * stall, drop watches, expire history on demand.
 */
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import type { StsguardConfig } from "../../src/config/config.js";
import { parseConfig } from "../../src/config/config.js";
import { namespaceMode } from "../../src/guardrails/index.js";
import { createClusterSource, type ClusterSource } from "../../src/kube/cluster-source.js";
import { loadKubeConfig, type KubeConfig } from "../../src/kube/client.js";
import { createNamespaceCache, type NamespaceCache } from "../../src/kube/namespace-cache.js";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import type { AutoscalerSummary, StatefulSetLookup } from "../../src/policy/index.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { aRequest, aReview, configFor } from "../admission/admission-inputs.js";
import { aService } from "../helpers/objects.js";
import { makeTestCertificates } from "../helpers/tls.js";
import { postJson, requestHttp } from "../server/https-client.js";
import { eventually, startCluster, type Cluster } from "./support/cluster.js";
import {
  headlessService,
  horizontalPodAutoscaler,
  perPodService,
  statefulSet,
  type Json,
} from "./support/objects.js";

let cluster: Cluster | undefined;
let kubeConfig: KubeConfig;
const closers: (() => Promise<void>)[] = [];

function api(): Cluster {
  if (!cluster) throw new Error("the cluster did not start");
  return cluster;
}

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** What the source reported to its metrics: watch restarts, relists, live reads. */
interface Recorded {
  readonly calls: string[];
}

async function startSource(pageSize = 500): Promise<{ source: ClusterSource; recorded: Recorded }> {
  const calls: string[] = [];
  const source = createClusterSource({
    kubeConfig,
    logger: pino({ level: "silent" }),
    pageSize,
    metrics: {
      recordWatchRestart: (resource, reason) => calls.push(`watch-restart ${resource} ${reason}`),
      recordRelist: (resource) => calls.push(`relist ${resource}`),
      recordLiveRead: (what, outcome) => calls.push(`live-read ${what} ${outcome}`),
    },
  });
  closers.push(() => source.close());
  await source.start();
  return { source, recorded: { calls } };
}

async function replicasOf(
  source: ClusterSource,
  namespace: string,
  name: string,
): Promise<unknown> {
  const result = await source.lookup(namespace, name);
  return result.status === "found" ? result.statefulSet.replicas : result.status;
}

/**
 * demo: StatefulSets web (3 pods), db (2 pods from ordinal 5), redis-2 (1 pod); per-pod Services
 * web-0, web-1, db-5 and redis-2-0; the headless Service web; and an ExternalName Service with a
 * pod-name selector (not per-pod). other: StatefulSet web (1 pod).
 */
beforeAll(async () => {
  cluster = await startCluster();
  kubeConfig = loadKubeConfig({ kubeconfigPath: cluster.kubeconfig, env: {} });
  await cluster.apply(
    ["demo", "other", "moving"].map((name) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name },
    })),
  );
  await cluster.apply([
    statefulSet("demo", "web", { replicas: 3 }),
    statefulSet("demo", "db", { replicas: 2, start: 5 }),
    statefulSet("demo", "redis-2", { replicas: 1 }),
    statefulSet("other", "web", { replicas: 1 }),
    perPodService("demo", "web-1"),
    perPodService("demo", "web-0"),
    perPodService("demo", "db-5"),
    perPodService("demo", "redis-2-0"),
    headlessService("demo", "web"),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "ext", namespace: "demo" },
      spec: {
        type: "ExternalName",
        externalName: "web.example.com",
        selector: { "statefulset.kubernetes.io/pod-name": "web-0" },
      },
    },
  ]);
});

afterAll(async () => {
  await cluster?.stop();
});

describe("cluster source: first sync", () => {
  it("is ready once StatefulSets, Services and HPAs are listed, page by page; counts per-pod Services", async () => {
    // Pages of 2: 4 StatefulSets and 7 Services (the API server's own `kubernetes` included);
    // no HorizontalPodAutoscaler yet.
    const { source, recorded } = await startSource(2);
    expect(source.isReady()).toBe(true);
    expect(source.readHealth()).toMatchObject({
      synced: true,
      statefulSetsFresh: true,
      servicesFresh: true,
      autoscalersFresh: true,
      statefulSets: 4,
      perPodServices: 4,
      autoscalers: 0,
    });
    expect(await replicasOf(source, "demo", "redis-2")).toBe(1);
    expect(recorded.calls).toEqual([]);
  });

  it("keeps only the summary the rules need", async () => {
    const { source } = await startSource();
    expect(await source.lookup("demo", "db")).toEqual({
      status: "found",
      statefulSet: {
        namespace: "demo",
        name: "db",
        replicas: 2,
        start: 5,
        podLabels: { app: "db" },
        labels: {},
        serviceName: "db",
      },
    });
  });

  it.each([
    { name: "a StatefulSet of the namespace", namespace: "demo", sts: "web", expected: 3 },
    { name: "the same name in another namespace", namespace: "other", sts: "web", expected: 1 },
    {
      name: "a StatefulSet that does not exist",
      namespace: "demo",
      sts: "nope",
      expected: "not-found",
    },
    {
      name: "a namespace that does not exist",
      namespace: "void",
      sts: "web",
      expected: "not-found",
    },
  ])("answers from the cache without a live read: $name", async ({ namespace, sts, expected }) => {
    const { source, recorded } = await startSource();
    expect(await replicasOf(source, namespace, sts)).toBe(expected);
    expect(recorded.calls).toEqual([]);
  });

  it.each([
    {
      name: "the Services of one StatefulSet, by ordinal",
      namespace: "demo",
      sts: "web",
      expected: ["web-0", "web-1"],
    },
    {
      name: "a StatefulSet whose name ends in digits",
      namespace: "demo",
      sts: "redis-2",
      expected: ["redis-2-0"],
    },
    { name: "not another StatefulSet's by prefix", namespace: "demo", sts: "redis", expected: [] },
    { name: "nothing from another namespace", namespace: "other", sts: "web", expected: [] },
  ])("per-pod Services from the cache: $name", async ({ namespace, sts, expected }) => {
    const { source, recorded } = await startSource();
    const services = await source.perPodServices(namespace, sts);
    expect(services.map((s) => s.name)).toEqual(expected);
    expect(services.every((s) => s.namespace === namespace && s.target.statefulSet === sts)).toBe(
      true,
    );
    expect(recorded.calls).toEqual([]);
  });

  it("answers any Service by name from the cache: headless, not headless, missing", async () => {
    const { source, recorded } = await startSource();
    expect(await source.lookupService("demo", "web")).toEqual({
      status: "found",
      service: { namespace: "demo", name: "web", headless: true, selector: { app: "web" } },
    });
    const perPod = await source.lookupService("demo", "web-0");
    expect(perPod.status === "found" && perPod.service.headless).toBe(false);
    expect(await source.lookupService("demo", "nope")).toEqual({ status: "not-found" });
    expect(await source.lookupService("other", "web")).toEqual({ status: "not-found" });
    const snapshot = source.readSnapshot();
    expect(snapshot?.statefulSets.map((s) => `${s.namespace}/${s.name}`).sort()).toEqual([
      "demo/db",
      "demo/redis-2",
      "demo/web",
      "other/web",
    ]);
    expect(
      snapshot?.services
        .filter((s) => s.perPod)
        .map((s) => s.service.name)
        .sort(),
    ).toEqual(["db-5", "redis-2-0", "web-0", "web-1"]);
    expect(recorded.calls).toEqual([]);
  });

  it("lookupLive reads the API server: found, and a real 404 as not-found", async () => {
    const { source, recorded } = await startSource();
    const found = await source.lookupLive("demo", "web");
    expect(found.status === "found" && found.statefulSet.replicas).toBe(3);
    expect(await source.lookupLive("demo", "nope")).toEqual({ status: "not-found" });
    // Each with the HPAs of its namespace, listed beside the StatefulSet (the list is counted
    // when it answers, the StatefulSet once both have).
    expect(recorded.calls).toEqual([
      "live-read autoscalers listed",
      "live-read statefulset found",
      "live-read autoscalers listed",
      "live-read statefulset not-found",
    ]);
  });
});

describe("cluster source: watch events", () => {
  it("follows StatefulSets and Services added, changed and deleted, without a live read", async () => {
    const { source, recorded } = await startSource();
    const moving = (name: string): Promise<unknown> => replicasOf(source, "moving", name);
    const perPod = async (): Promise<string[]> =>
      (await source.perPodServices("moving", "web")).map((s) => s.name);
    const until = (what: string, check: () => Promise<boolean>): Promise<boolean> =>
      eventually(async () => ((await check()) ? true : undefined), what, 10_000, 50);

    // ADDED
    await api().apply([
      statefulSet("moving", "web", { replicas: 2 }),
      statefulSet("moving", "cache", { replicas: 4 }),
      perPodService("moving", "web-0"),
      perPodService("moving", "web-1"),
    ]);
    await until("the new StatefulSets", async () => (await moving("cache")) === 4);
    await until("the new Services", async () => (await perPod()).length === 2);
    // MODIFIED: a scale, and a Service whose selector no longer names a pod.
    await api().kubectl(["scale", "statefulset", "web", "-n", "moving", "--replicas=5"]);
    await until("the scale-up", async () => (await moving("web")) === 5);
    await api().kubectl([
      "patch",
      "service",
      "web-0",
      "-n",
      "moving",
      "--type=json",
      "-p",
      '[{"op":"replace","path":"/spec/selector","value":{"app":"web"}}]',
    ]);
    await until("web-0 no longer per-pod", async () => (await perPod()).join() === "web-1");
    // DELETED
    await api().kubectl(["delete", "statefulset", "cache", "-n", "moving"]);
    await api().kubectl(["delete", "service", "web-1", "-n", "moving"]);
    await until("the deleted StatefulSet", async () => (await moving("cache")) === "not-found");
    await until("the deleted Service", async () => (await perPod()).length === 0);
    expect((await source.lookupService("moving", "web-0")).status).toBe("found");
    expect(recorded.calls).toEqual([]);
  });
});

describe("cluster source: HorizontalPodAutoscalers", () => {
  // autoscaled: StatefulSets web (3 pods) with an HPA 2–6, and db (2 pods), beside an HPA api
  // of a Deployment.
  const webHpa: AutoscalerSummary = {
    kind: "HorizontalPodAutoscaler",
    namespace: "autoscaled",
    name: "web",
    statefulSet: "web",
    minReplicas: 2,
    maxReplicas: 6,
    hpaName: null,
  };
  const autoscalerOf = (lookup: StatefulSetLookup): AutoscalerSummary | null | undefined =>
    lookup.status === "found" ? (lookup.statefulSet.autoscaler ?? null) : undefined;

  beforeAll(async () => {
    await api().createNamespace("autoscaled");
    await api().apply([
      statefulSet("autoscaled", "web", { replicas: 3 }),
      statefulSet("autoscaled", "db", { replicas: 2 }),
      horizontalPodAutoscaler("autoscaled", "web", { min: 2, max: 6 }),
      horizontalPodAutoscaler("autoscaled", "api", { min: 1, max: 3, targetKind: "Deployment" }),
    ]);
  });

  it("keeps only HPAs of StatefulSets and joins them to the StatefulSet they scale", async () => {
    const { source, recorded } = await startSource();
    expect(source.readHealth()).toMatchObject({ autoscalers: 1, autoscalersFresh: true });
    expect(await source.lookup("autoscaled", "web")).toEqual({
      status: "found",
      statefulSet: {
        namespace: "autoscaled",
        name: "web",
        replicas: 3,
        start: 0,
        podLabels: { app: "web" },
        labels: {},
        serviceName: "web",
        autoscaler: webHpa,
      },
    });
    expect(source.lookupCached("autoscaled", "web")).toEqual(
      await source.lookup("autoscaled", "web"),
    );
    // db has no HPA; nor has web in namespace other.
    expect(autoscalerOf(await source.lookup("autoscaled", "db"))).toBeNull();
    expect(autoscalerOf(await source.lookup("other", "web"))).toBeNull();
    expect(await source.autoscalers("autoscaled")).toEqual([webHpa]);
    expect(await source.autoscalers("demo")).toEqual([]);
    expect(
      source
        .readSnapshot()
        ?.statefulSets.find((s) => s.namespace === "autoscaled" && s.name === "web"),
    ).toMatchObject({ autoscaler: webHpa });
    expect(recorded.calls).toEqual([]);
  });

  it("lists them live: autoscalersLive, and lookupLive joins them", async () => {
    const { source, recorded } = await startSource();
    expect(await source.autoscalersLive("autoscaled")).toEqual([webHpa]);
    expect(autoscalerOf(await source.lookupLive("autoscaled", "web"))).toEqual(webHpa);
    expect(recorded.calls).toEqual([
      "live-read autoscalers listed",
      "live-read autoscalers listed",
      "live-read statefulset found",
    ]);
  });

  it("follows HPA watch events: a raised maxReplicas, then a retarget to a Deployment", async () => {
    const { source, recorded } = await startSource();
    const until = (what: string, check: () => Promise<boolean>): Promise<boolean> =>
      eventually(async () => ((await check()) ? true : undefined), what, 10_000, 50);
    await api().apply([horizontalPodAutoscaler("autoscaled", "web", { min: 2, max: 9 })]);
    await until(
      "the raised maxReplicas",
      async () => autoscalerOf(await source.lookup("autoscaled", "web"))?.maxReplicas === 9,
    );
    await api().apply([
      horizontalPodAutoscaler("autoscaled", "web", {
        min: 2,
        max: 9,
        targetKind: "Deployment",
      }),
    ]);
    await until("the HPA dropped from the cache", () =>
      Promise.resolve(source.readHealth().autoscalers === 0),
    );
    expect(autoscalerOf(await source.lookup("autoscaled", "web"))).toBeNull();
    expect(await source.autoscalers("autoscaled")).toEqual([]);
    expect(recorded.calls).toEqual([]);
  });
});

describe("namespace cache", () => {
  // Labels may lower the mode in every namespace here (labelsMayLowerIn).
  const CONFIG = parseConfig(
    `
mode: enforce
labelsMayLowerIn: ["*"]
namespaces:
  - selector: {matchLabels: {tier: sandbox}}
    mode: monitor
  - selector: {matchExpressions: [{key: tier, operator: In, values: [staging]}]}
    mode: warn
`,
    "stsguard.yaml",
  );

  async function startCache(): Promise<NamespaceCache> {
    const cache = createNamespaceCache({ kubeConfig, logger: pino({ level: "silent" }) });
    closers.push(() => cache.close());
    await cache.start();
    return cache;
  }

  async function modeOf(cache: NamespaceCache, name: string): Promise<string> {
    const lookup = await cache.lookup(name);
    const labels = lookup.status === "found" ? lookup.namespace.labels : null;
    return namespaceMode(name, labels, CONFIG).mode;
  }

  it("lists namespaces with their labels, and the name label the API server adds", async () => {
    await api().createNamespace("team-a", { tier: "sandbox" });
    const cache = await startCache();
    expect(cache.isReady()).toBe(true);
    expect(await cache.lookup("team-a")).toEqual({
      status: "found",
      namespace: {
        name: "team-a",
        labels: { tier: "sandbox", "kubernetes.io/metadata.name": "team-a" },
      },
    });
    expect(await modeOf(cache, "team-a")).toBe("monitor");
  });

  it("moves a namespace to another mode as its labels change", async () => {
    await api().createNamespace("payments", { tier: "prod" });
    const cache = await startCache();
    const until = (mode: string): Promise<true> =>
      eventually(
        async () => ((await modeOf(cache, "payments")) === mode ? true : undefined),
        `payments in mode ${mode}`,
        10_000,
        50,
      );
    expect(await modeOf(cache, "payments")).toBe("enforce");
    await api().kubectl(["label", "namespace", "payments", "tier=staging", "--overwrite"]);
    await until("warn");
    await api().kubectl(["label", "namespace", "payments", "tier=sandbox", "--overwrite"]);
    await until("monitor");
    await api().kubectl(["label", "namespace", "payments", "tier-"]);
    await until("enforce");
  });

  it("forgets a deleted namespace", async () => {
    await api().createNamespace("short-lived", { tier: "sandbox" });
    const cache = await startCache();
    const before = cache.count();
    expect(await modeOf(cache, "short-lived")).toBe("monitor");
    // No controller manager runs here: the namespace's finalizer is what its namespace
    // controller would remove once the (empty) namespace is cleaned up.
    await api().kubectl(["delete", "namespace", "short-lived", "--wait=false"]);
    const terminating = (await api().get<Json>("namespace", "short-lived")) as Json;
    (terminating["spec"] as Json)["finalizers"] = [];
    await api().kubectl(
      ["replace", "--raw", "/api/v1/namespaces/short-lived/finalize", "-f", "-"],
      {
        input: JSON.stringify(terminating),
      },
    );
    await eventually(
      () => (cache.count() === before - 1 ? true : undefined),
      "the namespace to leave the cache",
      10_000,
      50,
    );
    // Gone from the cache, so asked of the API server: a real 404.
    expect(await cache.lookup("short-lived")).toEqual({ status: "not-found" });
  });
});

describe("live reads only where they can change the answer (the HTTPS webhook on this source)", () => {
  const certs = makeTestCertificates();
  const running: RunningServer[] = [];
  afterEach(async () => {
    for (const server of running.splice(0)) await server.close();
  });

  interface Response {
    allowed: boolean;
    status?: { code: number; message: string };
    warnings?: string[];
  }

  async function startWebhook(config: StsguardConfig): Promise<{
    post(path: "/mutate" | "/validate", podName: string): Promise<Response>;
    liveReads(): Promise<number>;
  }> {
    const { cert, key, caCert } = await certs;
    const metrics = createMetrics({ isSourceReady: () => true });
    const source = createClusterSource({
      kubeConfig,
      logger: pino({ level: "silent" }),
      metrics: metrics.clusterSource,
    });
    closers.push(() => source.close());
    await source.start();
    const server = await startServer({
      source,
      config,
      logger: createLogger({ level: "silent", destination: createMemoryLogDestination() }),
      metrics,
      tls: { cert, key },
      host: "127.0.0.1",
      port: 0,
      metricsPort: 0,
    });
    running.push(server);
    return {
      async post(path, podName) {
        const answer = await postJson(
          server.port,
          caCert,
          path,
          aReview({ object: aService({ podName }) }),
        );
        expect(answer.status).toBe(200);
        return (answer.json as { response: Response }).response;
      },
      async liveReads() {
        const answer = await requestHttp(server.metricsPort ?? 0, "/metrics");
        return answer.text
          .split("\n")
          .filter((line) => line.startsWith("stsguard_live_reads_total{"))
          .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
      },
    };
  }

  it("answers statefulset-not-found warnings from the fresh cache, without a live read", async () => {
    const webhook = await startWebhook(configFor("1.26"));
    for (let i = 0; i < 5; i += 1) {
      const response = await webhook.post("/validate", `cache-${i}`);
      expect(response.allowed).toBe(true);
      expect(response.warnings?.[0]).toMatch(/^statefulset-not-found: /);
      expect((await webhook.post("/mutate", `cache-${i}`)).allowed).toBe(true);
    }
    expect(await webhook.liveReads()).toBe(0);
  });

  it("answers an allowed Service from the fresh cache, without a live read", async () => {
    const webhook = await startWebhook(configFor("1.26"));
    expect(await webhook.post("/validate", "web-2")).toMatchObject({ allowed: true });
    expect(await webhook.liveReads()).toBe(0);
  });

  it("reads live before denying ordinal-out-of-range", async () => {
    const webhook = await startWebhook(configFor("1.26"));
    const response = await webhook.post("/validate", "web-3");
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toMatch(/^ordinal-out-of-range: /);
    // The StatefulSet and the HPAs of its namespace, which may widen its range.
    expect(await webhook.liveReads()).toBe(2);
  });

  it("reads live before denying when statefulset-not-found is configured as an error", async () => {
    const { severities } = configFor("1.26").policy;
    const webhook = await startWebhook(
      configFor("1.26", {
        policy: { severities: { ...severities, "statefulset-not-found": "error" } },
      }),
    );
    const response = await webhook.post("/validate", "cache-0");
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toMatch(/^statefulset-not-found: /);
    expect(await webhook.liveReads()).toBe(2);
  });

  it("reads live before a patch copied from the labels of a StatefulSet the cache lacks", async () => {
    const webhook = await startWebhook(
      configFor("1.26", {
        policy: { extraLabels: [{ key: "example.com/team", fromStatefulSetLabel: "team" }] },
      }),
    );
    await webhook.post("/mutate", "cache-0");
    expect(await webhook.liveReads()).toBe(2);
  });

  /** A statefulsets/scale of `name` in demo from `from` to `to` replicas, admitted on `source`. */
  function scale(source: ClusterSource, name: string, to: number, from: number) {
    const scaleOf = (count: number): Json => ({
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name, namespace: "demo" },
      spec: { replicas: count },
    });
    return admit(
      aRequest({
        operation: "UPDATE",
        kind: { group: "autoscaling", version: "v1", kind: "Scale" },
        resource: { group: "apps", version: "v1", resource: "statefulsets" },
        subResource: "scale",
        name,
        object: scaleOf(to),
        oldObject: scaleOf(from),
      }),
      "validate",
      { source, config: configFor("1.26") },
    );
  }

  it("answers a statefulsets/scale of a StatefulSet in the cache from the cache", async () => {
    const { source, recorded } = await startSource();
    // db starts at ordinal 5: a scale to 1 keeps db-5, and db-6 has no Service.
    expect(await scale(source, "db", 1, 2)).toMatchObject({ allowed: true, warnings: [] });
    expect(recorded.calls).toEqual([]);
  });

  it("confirms a scale's orphaned-service warning with a live list of the HPAs alone", async () => {
    const { source, recorded } = await startSource();
    // web from 3 to 1 leaves web-1's Service behind; the StatefulSet comes from the cache, and
    // only the HPAs, which the cache may lag on (an HPA created a moment ago would keep web-1
    // in range), are read live.
    const result = await scale(source, "web", 1, 3);
    expect(result.allowed).toBe(true);
    expect(result.warnings).toEqual([
      "orphaned-service: StatefulSet demo/web will have 1 replica (ordinal 0), so Service web-1 " +
        "selects pod web-1, which will not exist; delete that Service or keep enough replicas",
    ]);
    expect(recorded.calls).toEqual(["live-read autoscalers listed"]);
  });
});
