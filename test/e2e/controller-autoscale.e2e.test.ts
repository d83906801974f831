/**
 * The per-pod Service controller and a HorizontalPodAutoscaler against a real kube-apiserver 1.26
 * with the HPA controller running: the controller (`stsguard controller`, under its own
 * ServiceAccount with the chart's RBAC, which now lists and watches HPAs) creates Services for the
 * pods that exist, keeps those of pods scaled in while the HPA's maxReplicas covers them (the same
 * objects, not recreated), and deletes them, saying why, once it no longer does: maxReplicas
 * lowered, the HPA retargeted or deleted, the StatefulSet at 0 replicas. Without an HPA nothing
 * changes (docs/controller.md's 3 → 5 → 3 example in controller.e2e.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  installRbac,
  installWebhooks,
  RELEASE,
  RELEASE_NAMESPACE,
  serviceAccountKubeconfig,
  waitForWebhooks,
} from "./support/chart.js";
import { eventually, startCluster, type Cluster } from "./support/cluster.js";
import {
  eventsOn,
  getService,
  makeApprovalKey,
  metricValue,
  startControllerProcess,
  statefulSet,
  waitForEvent,
  waitForServices,
  type ControllerProcess,
  waitForLeader,
} from "./support/controller.js";
import { startServe, type ServeProcess } from "./support/stsguard.js";

const CONTROLLER_VALUES = { controller: { enabled: true } };
const NS = "autoscaled";
const STS = "db";
const PLAIN = "its pod's ordinal is no longer in the StatefulSet's ordinal range";
const DB3_UNCOVERED =
  "Deleted per-pod Service db-3: its pod's ordinal is no longer covered by " +
  "HorizontalPodAutoscaler db (maxReplicas 3: ordinals 0-2) (×1)";

let cluster: Cluster | undefined;
let webhook: ServeProcess | undefined;
let controller: ControllerProcess | undefined;
let api: Cluster;

function hpa(options: { maxReplicas: number; target?: string }): object {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: STS, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: options.target ?? STS },
      minReplicas: 2,
      maxReplicas: options.maxReplicas,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ],
    },
  };
}

async function replicas(): Promise<number | undefined> {
  const found = await api.get<{ spec: { replicas?: number } }>("statefulset", STS, NS);
  return found?.spec.replicas;
}

async function waitForReplicas(count: number): Promise<void> {
  await eventually(
    async () => ((await replicas()) === count ? true : undefined),
    `StatefulSet ${STS} at ${count} replicas`,
  );
}

async function scale(count: number): Promise<void> {
  const scaled = await api.kubectl(["scale", "statefulset", STS, "-n", NS, `--replicas=${count}`]);
  expect(scaled.stdout).toBe(`statefulset.apps/${STS} scaled\n`);
}

/** name → uid of the namespace's Services. */
async function serviceUids(): Promise<Record<string, string>> {
  const services = await api.list<{ metadata: { name: string; uid: string } }>("services", NS);
  return Object.fromEntries(services.map((s) => [s.metadata.name, s.metadata.uid]));
}

async function successfulReconciles(): Promise<number> {
  const text = (await controller?.metrics()) ?? "";
  return metricValue(text, 'stsguard_controller_reconciles_total{outcome="success"}');
}

/** Waits until no reconcile has finished for 1.5 s; returns how many have. */
async function waitForIdle(): Promise<number> {
  let last = -1;
  let stableSince = Date.now();
  return eventually(async () => {
    const count = await successfulReconciles();
    if (count !== last) {
      last = count;
      stableSince = Date.now();
    }
    return Date.now() - stableSince >= 1_500 ? count : undefined;
  }, "the controller to be idle");
}

/**
 * Runs `change` once the controller is idle, and returns once it has reconciled since: what it
 * would write or delete, it does in that reconcile, before the count goes up.
 */
async function afterReconcile(change: () => Promise<void>): Promise<void> {
  const before = await waitForIdle();
  await change();
  await eventually(
    async () => ((await successfulReconciles()) > before ? true : undefined),
    "a reconcile after the change",
  );
}

/** The ServiceDeleted Events, oldest first: `message (×count)` (repeats raise the count). */
async function deletedEvents(): Promise<string[]> {
  return (await eventsOn(api, NS, STS, "ServiceDeleted")).map(
    (event) => `${event.message} (×${event.count ?? 1})`,
  );
}

beforeAll(async () => {
  // Only the HPA controller: with no metrics server it clamps the replicas into
  // [minReplicas, maxReplicas] through statefulsets/scale, which is the scaling this test needs.
  api = cluster = await startCluster({
    controllerManager: true,
    kcmFlags: "--controllers=horizontalpodautoscaling --horizontal-pod-autoscaler-sync-period=2s",
  });
  const admission = await installRbac(api, CONTROLLER_VALUES);
  const approvalKeyFile = await makeApprovalKey();
  webhook = await startServe({
    kubeconfig: admission,
    args: ["--approval-key-file", approvalKeyFile],
  });
  await installWebhooks(api, webhook, CONTROLLER_VALUES);
  await api.createNamespace(NS);
  await waitForWebhooks(api, NS);
  controller = await startControllerProcess({
    kubeconfig: await serviceAccountKubeconfig(
      api,
      RELEASE_NAMESPACE,
      `${RELEASE}-stsguard-controller`,
    ),
    approvalKeyFile,
    podName: "stsguard-controller-e2e-0",
    leaseNamespace: RELEASE_NAMESPACE,
  });
  await waitForLeader(controller);
});

afterAll(async () => {
  await controller?.stop();
  await webhook?.stop();
  await cluster?.stop();
});

describe("per-pod Services of a StatefulSet a HorizontalPodAutoscaler scales (min 2, max 4)", () => {
  let kept: Record<string, string> = {};

  it("creates Services for the pods that exist, not for every ordinal the HPA may reach", async () => {
    await api.apply([
      statefulSet({
        name: STS,
        namespace: NS,
        replicas: 1,
        annotations: { "stsguard.io/expose": "LoadBalancer", "stsguard.io/expose-ports": "client" },
      }),
      hpa({ maxReplicas: 4 }),
    ]);
    // The HPA controller scales 1 up to minReplicas.
    await waitForReplicas(2);
    await waitForServices(api, NS, ["db-0", "db-1"]);
    await waitForIdle();
    expect(Object.keys(await serviceUids()).sort()).toEqual(["db-0", "db-1"]);
    const created = await eventsOn(api, NS, STS, "ServiceCreated");
    expect(created.map((event) => event.message)).toEqual([
      "Created per-pod Service db-0 (LoadBalancer, port 9092)",
      "Created per-pod Service db-1 (LoadBalancer, port 9092)",
    ]);
  });

  it("keeps the Services of pods scaled in within maxReplicas: the same objects come back into use", async () => {
    await scale(4);
    await waitForServices(api, NS, ["db-0", "db-1", "db-2", "db-3"]);
    kept = await serviceUids();
    await afterReconcile(() => scale(2));
    expect(await replicas()).toBe(2);
    expect(await serviceUids()).toEqual(kept);
    expect(await deletedEvents()).toEqual([]);

    await afterReconcile(() => scale(4));
    expect(await serviceUids()).toEqual(kept);
    expect(await eventsOn(api, NS, STS, "ServiceCreated")).toHaveLength(4);
  });

  it("deletes what a lowered maxReplicas no longer covers as the HPA scales in, and says why", async () => {
    await api.apply([hpa({ maxReplicas: 3 })]);
    // The HPA controller scales 4 down to the new maxReplicas.
    await waitForReplicas(3);
    await waitForServices(api, NS, ["db-0", "db-1", "db-2"]);
    const event = await waitForEvent(api, NS, STS, "ServiceDeleted");
    expect(event.type).toBe("Normal");
    expect(await deletedEvents()).toEqual([DB3_UNCOVERED]);
    const { "db-3": gone, ...rest } = kept;
    expect(gone).toBeDefined();
    expect(await serviceUids()).toEqual(rest);
  });

  it("deletes the Services beyond the pods once the HPA scales another StatefulSet", async () => {
    await afterReconcile(() => scale(2));
    expect(Object.keys(await serviceUids()).sort()).toEqual(["db-0", "db-1", "db-2"]);
    await api.apply([hpa({ maxReplicas: 3, target: "elsewhere" })]);
    await waitForServices(api, NS, ["db-0", "db-1"]);
    await waitForIdle();
    expect(await deletedEvents()).toEqual([
      DB3_UNCOVERED,
      `Deleted per-pod Service db-2: ${PLAIN} (×1)`,
    ]);
  });

  it("deletes the Services beyond the pods once the HPA is deleted", async () => {
    await api.apply([hpa({ maxReplicas: 3 })]);
    await afterReconcile(() => scale(3));
    await waitForServices(api, NS, ["db-0", "db-1", "db-2"]);
    await afterReconcile(() => scale(2));
    expect(Object.keys(await serviceUids()).sort()).toEqual(["db-0", "db-1", "db-2"]);

    await api.kubectl(["delete", "horizontalpodautoscaler", STS, "-n", NS]);
    await waitForServices(api, NS, ["db-0", "db-1"]);
    expect(await getService(api, NS, "db-2")).toBeNull();
    await waitForIdle();
    // The same message as after the retarget: the Event's count goes up.
    expect(await deletedEvents()).toEqual([
      DB3_UNCOVERED,
      `Deleted per-pod Service db-2: ${PLAIN} (×2)`,
    ]);
  });

  it("deletes every Service at 0 replicas, where the HPA does not scale from, and says so", async () => {
    await api.apply([hpa({ maxReplicas: 4 })]);
    await afterReconcile(() => scale(0));
    await waitForServices(api, NS, []);
    await waitForIdle();
    expect((await deletedEvents()).slice(2).sort()).toEqual(
      ["db-0", "db-1"].map(
        (name) =>
          `Deleted per-pod Service ${name}: ${PLAIN}: it has 0 replicas, and ` +
          "HorizontalPodAutoscaler db does not scale a StatefulSet up from 0 (×1)",
      ),
    );
    // The HPA leaves it there ("scaling is disabled since the replica count of the target is zero").
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await replicas()).toBe(0);
  });
});
