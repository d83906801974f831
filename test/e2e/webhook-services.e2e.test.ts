/**
 * Per-pod Services written the ways users write them, through a real 1.26 API server that calls
 * `stsguard serve` (the chart's webhook configurations and RBAC): create, client-side apply,
 * replace (what `kubectl edit` sends), JSON and merge patches, server-side apply, and
 * `--dry-run=server`. Each test reads back what the API server stored and what kubectl printed.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  goodService,
  headlessService,
  perPodService,
  requiredLabels,
  statefulSet,
  type Json,
} from "./support/objects.js";
import {
  ASSIGNED,
  comparableSpec,
  denied,
  kubectlWith,
  type Outcome,
  type StoredService,
  useWebhookWorld,
} from "./support/webhook.js";

const NS = "shop";
const theWorld = useWebhookWorld({ namespaces: { [NS]: {} } }, async (world) => {
  // StatefulSets first, each with its headless governing Service: web (pods web-0..web-2),
  // redis-2 (a name ending in digits: pods redis-2-0, redis-2-1), db (ordinals.start 5: db-5..db-7).
  await world.api.apply([
    headlessService(NS, "web"),
    headlessService(NS, "redis-2"),
    headlessService(NS, "db"),
    statefulSet(NS, "web", { replicas: 3 }),
    statefulSet(NS, "redis-2", { replicas: 2 }),
    statefulSet(NS, "db", { replicas: 3, start: 5 }),
  ]);
});

const create = (object: Json): Promise<Outcome> =>
  kubectlWith(theWorld().api, ["create", "-f", "-"], object);
const apply = (object: Json): Promise<Outcome> =>
  kubectlWith(theWorld().api, ["apply", "-f", "-"], object);
const serverSideApply = (object: Json): Promise<Outcome> =>
  kubectlWith(theWorld().api, ["apply", "--server-side", "-f", "-"], object);
const stored = (name: string): Promise<StoredService | null> =>
  theWorld().api.get<StoredService>("service", name, NS);

describe("create", () => {
  it("fixes a LoadBalancer per-pod Service: externalTrafficPolicy Local and the labels, no warning", async () => {
    const outcome = await create(perPodService(NS, "web-1", { type: "LoadBalancer" }));
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "service/web-1 created",
    });
    const service = await stored("web-1");
    expect(service?.metadata.labels).toEqual(requiredLabels("web", 1));
    expect(service?.metadata.annotations).toBeUndefined();
    expect(comparableSpec(service)).toEqual({
      allocateLoadBalancerNodePorts: true,
      clusterIP: ASSIGNED,
      clusterIPs: [ASSIGNED],
      externalTrafficPolicy: "Local",
      healthCheckNodePort: ASSIGNED,
      internalTrafficPolicy: "Cluster",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ports: [{ name: "http", nodePort: ASSIGNED, port: 80, protocol: "TCP", targetPort: "http" }],
      selector: { "statefulset.kubernetes.io/pod-name": "web-1" },
      sessionAffinity: "None",
      type: "LoadBalancer",
    });
  });

  it("fixes a NodePort per-pod Service the same way", async () => {
    const outcome = await create(
      perPodService(NS, "web-0", { type: "NodePort", externalTrafficPolicy: "Cluster" }),
    );
    expect(outcome.code).toBe(0);
    const service = await stored("web-0");
    expect(service?.metadata.labels).toEqual(requiredLabels("web", 0));
    expect(comparableSpec(service)).toEqual({
      clusterIP: ASSIGNED,
      clusterIPs: [ASSIGNED],
      externalTrafficPolicy: "Local",
      internalTrafficPolicy: "Cluster",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ports: [{ name: "http", nodePort: ASSIGNED, port: 80, protocol: "TCP", targetPort: "http" }],
      selector: { "statefulset.kubernetes.io/pod-name": "web-0" },
      sessionAffinity: "None",
      type: "NodePort",
    });
  });

  it("adds only the labels to a ClusterIP per-pod Service: 1.26 refuses externalTrafficPolicy there", async () => {
    const service = perPodService(NS, "web-2");
    (service["spec"] as Json)["externalIPs"] = ["192.0.2.10"];
    const outcome = await create(service);
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    const saved = await stored("web-2");
    expect(saved?.metadata.labels).toEqual(requiredLabels("web", 2));
    expect(comparableSpec(saved)).toEqual({
      clusterIP: ASSIGNED,
      clusterIPs: [ASSIGNED],
      externalIPs: ["192.0.2.10"],
      internalTrafficPolicy: "Cluster",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
      selector: { "statefulset.kubernetes.io/pod-name": "web-2" },
      sessionAffinity: "None",
      type: "ClusterIP",
    });
  });

  it("denies a Service for an ordinal the StatefulSet does not have, and stores nothing", async () => {
    const outcome = await create(perPodService(NS, "web-3", { type: "LoadBalancer" }));
    expect(outcome).toEqual({
      code: 1,
      warnings: [],
      error: denied(
        "ordinal-out-of-range: Service shop/web-3 selects pod web-3, but StatefulSet web has 3 replicas (ordinals 0-2); scale it up or select an existing ordinal",
        "creating",
      ),
      stdout: "",
    });
    expect(await stored("web-3")).toBeNull();
  });

  it("denies a pod name with a leading zero", async () => {
    const outcome = await create(perPodService(NS, "web-x", { pod: "web-01" }));
    expect(outcome.error).toBe(
      denied(
        'malformed-pod-name: Service shop/web-x selects pod "web-01", which is not "<statefulset>-<ordinal>" with a plain decimal ordinal, so it matches no StatefulSet pod; fix the statefulset.kubernetes.io/pod-name selector',
        "creating",
      ),
    );
    expect(await stored("web-x")).toBeNull();
  });

  it("denies a selector whose other keys the StatefulSet's pods do not carry", async () => {
    const outcome = await create(
      perPodService(NS, "web-sel", { pod: "web-1", extraSelector: { app: "shop" } }),
    );
    expect(outcome.error).toBe(
      denied(
        "selector-mismatch: Service shop/web-sel selects app=shop, but pods of StatefulSet web carry app=web, so it selects nothing; remove or correct that selector entry",
        "creating",
      ),
    );
    expect(await stored("web-sel")).toBeNull();
  });

  it("admits extra selector keys the pods do carry", async () => {
    const outcome = await create(
      perPodService(NS, "web-app", { pod: "web-1", extraSelector: { app: "web" } }),
    );
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    expect((await stored("web-app"))?.metadata.labels).toEqual(requiredLabels("web", 1));
  });

  it("reads a StatefulSet name that ends in digits: redis-2-1 is pod 1 of redis-2", async () => {
    const admitted = await create(perPodService(NS, "redis-2-1", { type: "LoadBalancer" }));
    expect(admitted).toMatchObject({ code: 0, warnings: [], error: "" });
    expect((await stored("redis-2-1"))?.metadata.labels).toEqual(requiredLabels("redis-2", 1));
    const beyond = await create(perPodService(NS, "redis-2-2", { type: "LoadBalancer" }));
    expect(beyond.error).toBe(
      denied(
        "ordinal-out-of-range: Service shop/redis-2-2 selects pod redis-2-2, but StatefulSet redis-2 has 2 replicas (ordinals 0-1); scale it up or select an existing ordinal",
        "creating",
      ),
    );
  });

  it.each([
    { ordinal: 4, admitted: false },
    { ordinal: 5, admitted: true },
    { ordinal: 7, admitted: true },
    { ordinal: 8, admitted: false },
  ])(
    "spec.ordinals.start 5, 3 replicas: db-$ordinal admitted: $admitted",
    async ({ ordinal, admitted }) => {
      const outcome = await create(perPodService(NS, `db-${ordinal}`, { type: "LoadBalancer" }));
      if (admitted) {
        expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
        expect((await stored(`db-${ordinal}`))?.metadata.labels).toEqual(
          requiredLabels("db", ordinal),
        );
      } else {
        expect(outcome.error).toBe(
          denied(
            `ordinal-out-of-range: Service shop/db-${ordinal} selects pod db-${ordinal}, but StatefulSet db has 3 replicas (ordinals 5-7); scale it up or select an existing ordinal`,
            "creating",
          ),
        );
        expect(await stored(`db-${ordinal}`)).toBeNull();
      }
    },
  );

  it("leaves a Service that is not per-pod untouched", async () => {
    const plain = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "frontend", namespace: NS },
      spec: { type: "LoadBalancer", selector: { app: "web" }, ports: [{ port: 80 }] },
    };
    expect(await create(plain)).toMatchObject({ code: 0, warnings: [], error: "" });
    const service = await stored("frontend");
    expect(service?.metadata.labels).toBeUndefined();
    expect(service?.spec.externalTrafficPolicy).toBe("Cluster");
  });
});

describe("Helm's order: per-pod Services before their StatefulSet", () => {
  it("warns statefulset-not-found and admits; the StatefulSet then comes without a warning", async () => {
    const headless = await apply(headlessService(NS, "cache"));
    expect(headless).toMatchObject({ code: 0, warnings: [] });
    const first = await apply(perPodService(NS, "cache-0", { type: "LoadBalancer" }));
    expect(first).toEqual({
      code: 0,
      warnings: [
        "statefulset-not-found: Service shop/cache-0 selects pod cache-0, but StatefulSet cache does not exist in namespace shop; create it or fix the selector",
      ],
      error: "",
      stdout: "service/cache-0 created",
    });
    // Fixed all the same: the fixes need no StatefulSet.
    const service = await stored("cache-0");
    expect(service?.metadata.labels).toEqual(requiredLabels("cache", 0));
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
    const sts = await apply(statefulSet(NS, "cache", { replicas: 1 }));
    expect(sts).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "statefulset.apps/cache created",
    });
  });
});

describe("update", () => {
  beforeAll(async () => {
    const outcome = await apply(perPodService(NS, "web-1", { type: "LoadBalancer" }));
    // web-1 was made with kubectl create; apply adopts it.
    expect(outcome.code).toBe(0);
  });

  it("kubectl apply that sets externalTrafficPolicy Cluster and drops the labels: fixed again", async () => {
    const outcome = await apply(
      perPodService(NS, "web-1", { type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    );
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "service/web-1 configured",
    });
    const service = await stored("web-1");
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
    expect(service?.metadata.labels).toEqual(requiredLabels("web", 1));
  });

  it("replace (what kubectl edit sends) with a wrong ordinal label and another type: fixed", async () => {
    const current = (await theWorld().api.get<Json>("service", "web-1", NS)) as Json;
    const metadata = current["metadata"] as Json;
    metadata["labels"] = { ...requiredLabels("web", 1), "stsguard.io/ordinal": "7", team: "a" };
    const spec = current["spec"] as Json;
    spec["type"] = "NodePort";
    spec["externalTrafficPolicy"] = "Cluster";
    delete spec["healthCheckNodePort"];
    const outcome = await kubectlWith(theWorld().api, ["replace", "-f", "-"], current);
    expect(outcome).toEqual({ code: 0, warnings: [], error: "", stdout: "service/web-1 replaced" });
    const service = await stored("web-1");
    expect(service?.metadata.labels).toEqual({ ...requiredLabels("web", 1), team: "a" });
    expect(service?.spec.type).toBe("NodePort");
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
  });

  it("JSON patch that removes a required label: put back", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      [
        "patch",
        "service",
        "web-1",
        "-n",
        NS,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/metadata/labels/stsguard.io~1ordinal"}]',
      ],
      null,
    );
    expect(outcome).toEqual({ code: 0, warnings: [], error: "", stdout: "service/web-1 patched" });
    expect((await stored("web-1"))?.metadata.labels).toEqual({
      ...requiredLabels("web", 1),
      team: "a",
    });
  });

  it("merge patch to externalTrafficPolicy Cluster: stored Local", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      [
        "patch",
        "service",
        "web-1",
        "-n",
        NS,
        "--type=merge",
        "-p",
        '{"spec":{"externalTrafficPolicy":"Cluster"}}',
      ],
      null,
    );
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "service/web-1 patched",
    });
    expect((await stored("web-1"))?.spec.externalTrafficPolicy).toBe("Local");
  });

  it("merge patch that moves the selector to a pod the StatefulSet lacks: denied, nothing changes", async () => {
    const before = await stored("web-1");
    const outcome = await kubectlWith(
      theWorld().api,
      [
        "patch",
        "service",
        "web-1",
        "-n",
        NS,
        "--type=merge",
        "-p",
        '{"spec":{"selector":{"statefulset.kubernetes.io/pod-name":"web-9"}}}',
      ],
      null,
    );
    expect(outcome.error).toBe(
      denied(
        "ordinal-out-of-range: Service shop/web-1 selects pod web-9, but StatefulSet web has 3 replicas (ordinals 0-2); scale it up or select an existing ordinal",
      ),
    );
    expect(await stored("web-1")).toEqual(before);
  });

  it("strategic merge patch (kubectl's default) that moves the selector to another pod: labels follow", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      [
        "patch",
        "service",
        "web-app",
        "-n",
        NS,
        "-p",
        '{"spec":{"selector":{"statefulset.kubernetes.io/pod-name":"web-2"}}}',
      ],
      null,
    );
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    const service = await stored("web-app");
    expect(service?.spec.selector).toEqual({
      app: "web",
      "statefulset.kubernetes.io/pod-name": "web-2",
    });
    expect(service?.metadata.labels).toEqual(requiredLabels("web", 2));
  });
  it("patch from NodePort to ClusterIP: the API server drops externalTrafficPolicy, stsguard adds none", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      ["patch", "service", "web-0", "-n", NS, "-p", '{"spec":{"type":"ClusterIP"}}'],
      null,
    );
    expect(outcome).toEqual({ code: 0, warnings: [], error: "", stdout: "service/web-0 patched" });
    const service = await stored("web-0");
    expect(service?.spec.type).toBe("ClusterIP");
    expect(service?.spec.externalTrafficPolicy).toBeUndefined();
    expect(service?.metadata.labels).toEqual(requiredLabels("web", 0));
  });

  it("patch from ClusterIP to LoadBalancer: externalTrafficPolicy Local set on the way", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      ["patch", "service", "web-0", "-n", NS, "-p", '{"spec":{"type":"LoadBalancer"}}'],
      null,
    );
    expect(outcome).toEqual({ code: 0, warnings: [], error: "", stdout: "service/web-0 patched" });
    const service = await stored("web-0");
    expect(service?.spec.type).toBe("LoadBalancer");
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
  });
});

describe("server-side apply", () => {
  it("create: stored with the fixes, which kubectl's field manager does not own", async () => {
    const outcome = await serverSideApply(perPodService(NS, "redis-2-0", { type: "LoadBalancer" }));
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "service/redis-2-0 serverside-applied",
    });
    const service = await theWorld().api.kubectl([
      "get",
      "service",
      "redis-2-0",
      "-n",
      NS,
      "-o",
      "json",
      "--show-managed-fields",
    ]);
    const saved = JSON.parse(service.stdout) as StoredService & {
      metadata: { managedFields: { manager: string; operation: string; fieldsV1: Json }[] };
    };
    expect(saved.metadata.labels).toEqual(requiredLabels("redis-2", 0));
    expect(saved.spec.externalTrafficPolicy).toBe("Local");
    expect(saved.metadata.managedFields.map((f) => `${f.manager} ${f.operation}`)).toEqual([
      "kubectl Apply",
    ]);
    expect(Object.keys(saved.metadata.managedFields[0]?.fieldsV1 ?? {})).toEqual(["f:spec"]);
  });

  it("update that changes the port: the fixes stay", async () => {
    const outcome = await serverSideApply(
      perPodService(NS, "redis-2-0", { type: "LoadBalancer", port: 6379 }),
    );
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    const service = await stored("redis-2-0");
    expect(service?.spec.ports).toEqual([
      expect.objectContaining({ name: "http", port: 6379, targetPort: "http" }),
    ]);
    expect(service?.metadata.labels).toEqual(requiredLabels("redis-2", 0));
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
  });

  it("update that sets externalTrafficPolicy Cluster itself: stored Local all the same", async () => {
    const outcome = await serverSideApply(
      perPodService(NS, "redis-2-0", {
        type: "LoadBalancer",
        port: 6379,
        externalTrafficPolicy: "Cluster",
      }),
    );
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    expect((await stored("redis-2-0"))?.spec.externalTrafficPolicy).toBe("Local");
  });

  it("update to an ordinal the StatefulSet lacks: denied", async () => {
    const outcome = await serverSideApply(
      perPodService(NS, "redis-2-0", { type: "LoadBalancer", pod: "redis-2-5", port: 6379 }),
    );
    expect(outcome.error).toBe(
      denied(
        "ordinal-out-of-range: Service shop/redis-2-0 selects pod redis-2-5, but StatefulSet redis-2 has 2 replicas (ordinals 0-1); scale it up or select an existing ordinal",
      ),
    );
    expect((await stored("redis-2-0"))?.spec.selector).toEqual({
      "statefulset.kubernetes.io/pod-name": "redis-2-0",
    });
  });
});

describe("--dry-run=server", () => {
  it("create: the same fixes in the answer, nothing stored", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      ["create", "--dry-run=server", "-o", "json", "-f", "-"],
      perPodService(NS, "db-6", { type: "LoadBalancer" }),
    );
    expect(outcome.code).toBe(0);
    const answer = JSON.parse(outcome.stdout) as StoredService;
    expect(answer.metadata.labels).toEqual(requiredLabels("db", 6));
    expect(answer.spec.externalTrafficPolicy).toBe("Local");
    expect(await stored("db-6")).toBeNull();
  });

  it("create beyond the replicas: the same denial as without --dry-run", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      ["create", "--dry-run=server", "-f", "-"],
      perPodService(NS, "web-5", { type: "LoadBalancer" }),
    );
    expect(outcome.error).toBe(
      denied(
        "ordinal-out-of-range: Service shop/web-5 selects pod web-5, but StatefulSet web has 3 replicas (ordinals 0-2); scale it up or select an existing ordinal",
        "creating",
      ),
    );
  });

  it("server-side apply and patch: answered, stored object unchanged", async () => {
    const before = await stored("redis-2-0");
    const ssa = await kubectlWith(
      theWorld().api,
      ["apply", "--server-side", "--dry-run=server", "-f", "-"],
      perPodService(NS, "redis-2-0", { type: "LoadBalancer", pod: "redis-2-7", port: 6379 }),
    );
    expect(ssa.error).toBe(
      denied(
        "ordinal-out-of-range: Service shop/redis-2-0 selects pod redis-2-7, but StatefulSet redis-2 has 2 replicas (ordinals 0-1); scale it up or select an existing ordinal",
      ),
    );
    const patch = await kubectlWith(
      theWorld().api,
      [
        "patch",
        "service",
        "redis-2-0",
        "-n",
        NS,
        "--dry-run=server",
        "-o",
        "json",
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"stsguard.io/statefulset":"other"}}}',
      ],
      null,
    );
    expect(patch.code).toBe(0);
    expect((JSON.parse(patch.stdout) as StoredService).metadata.labels).toEqual(
      requiredLabels("redis-2", 0),
    );
    expect(await stored("redis-2-0")).toEqual(before);
  });

  it("a compliant Service is answered as it was sent", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      ["create", "--dry-run=server", "-o", "json", "-f", "-"],
      goodService(NS, "db", 6),
    );
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    const answer = JSON.parse(outcome.stdout) as StoredService;
    expect(answer.metadata.labels).toEqual(requiredLabels("db", 6));
    expect(answer.spec.externalTrafficPolicy).toBe("Local");
    expect(await stored("db-6")).toBeNull();
  });
});
