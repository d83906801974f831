/**
 * Several `serve --controller` replicas against a real kube-apiserver 1.26 with its controller
 * manager: one Lease, one writer; fail-over when the leader shuts down (it releases the Lease)
 * and when it is killed (the others wait out the Lease's 15 s); and the garbage collector
 * removing the Services of a deleted StatefulSet with no controller running.
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
  makeApprovalKey,
  metricValue,
  startControllerProcess,
  statefulSet,
  waitForServices,
  type ControllerProcess,
  isLeader,
} from "./support/controller.js";
import { startServe, type ServeProcess } from "./support/stsguard.js";

const CONTROLLER_VALUES = { controller: { enabled: true } };
const NAMESPACE = "ha";

let cluster: Cluster | undefined;
let api: Cluster;
let kubeconfig: string;
let approvalKeyFile: string;
const processes: (ServeProcess | ControllerProcess)[] = [];

interface Lease {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number };
}

/** A replica of the chart's controller Deployment: `stsguard controller` under its ServiceAccount. */
async function startReplica(podName: string): Promise<ControllerProcess> {
  const replica = await startControllerProcess({
    kubeconfig,
    approvalKeyFile,
    podName,
    leaseNamespace: RELEASE_NAMESPACE,
  });
  processes.push(replica);
  return replica;
}

async function lease(): Promise<Lease | null> {
  return api.get<Lease>("lease", "stsguard-controller", RELEASE_NAMESPACE);
}

/** Waits until exactly one of `replicas` leads and the Lease names it; returns it. */
async function theLeader(
  replicas: readonly ControllerProcess[],
  timeoutMs = 30_000,
): Promise<number> {
  return eventually(
    async () => {
      const leading = await Promise.all(replicas.map((replica) => isLeader(replica)));
      const index = leading.indexOf(true);
      if (index < 0 || leading.filter(Boolean).length !== 1) return undefined;
      const holder = (await lease())?.spec.holderIdentity ?? "";
      return holder.startsWith(`replica-${String(index)}_`) ? index : undefined;
    },
    "exactly one leader, named in the Lease",
    timeoutMs,
  );
}

beforeAll(async () => {
  api = cluster = await startCluster({ controllerManager: true });
  const admission = await installRbac(api, CONTROLLER_VALUES);
  kubeconfig = await serviceAccountKubeconfig(
    api,
    RELEASE_NAMESPACE,
    `${RELEASE}-stsguard-controller`,
  );
  approvalKeyFile = await makeApprovalKey();
  // The webhook the API server calls runs apart (as in the chart), so the fail-overs below do
  // not take admission down.
  const webhook = await startServe({
    kubeconfig: admission,
    args: ["--approval-key-file", approvalKeyFile],
  });
  processes.push(webhook);
  await installWebhooks(api, webhook, CONTROLLER_VALUES);
  await api.createNamespace(NAMESPACE);
  await waitForWebhooks(api, NAMESPACE);
});

afterAll(async () => {
  await Promise.all(processes.map((replica) => replica.stop()));
  await cluster?.stop();
});

describe("two serve --controller replicas", () => {
  let replicas: ControllerProcess[] = [];

  it("share one Lease: exactly one writes, and its Events name it", async () => {
    replicas = [await startReplica("replica-0"), await startReplica("replica-1")];
    const leader = await theLeader(replicas);
    const follower = 1 - leader;
    const record = await lease();
    expect(record?.spec.leaseDurationSeconds).toBe(15);

    await api.apply([
      statefulSet({
        name: "db",
        namespace: NAMESPACE,
        replicas: 2,
        annotations: { "stsguard.io/expose": "LoadBalancer", "stsguard.io/expose-ports": "client" },
      }),
    ]);
    await waitForServices(api, NAMESPACE, ["db-0", "db-1"]);
    const created = await eventually(async () => {
      const events = await eventsOn(api, NAMESPACE, "db", "ServiceCreated");
      return events.length === 2 ? events : undefined;
    }, "two ServiceCreated Events");
    expect(
      created.map((event) => (event as unknown as { reportingInstance: string }).reportingInstance),
    ).toEqual([record?.spec.holderIdentity, record?.spec.holderIdentity]);
    const followerMetrics = await replicas[follower]?.metrics();
    expect(
      metricValue(
        followerMetrics ?? "",
        'stsguard_controller_service_writes_total{action="created"}',
      ),
    ).toBe(0);
  });

  it("hands over at once when the leader shuts down (SIGTERM releases the Lease)", async () => {
    const leader = await theLeader(replicas);
    const follower = 1 - leader;
    const transitions = (await lease())?.spec.leaseTransitions ?? 0;
    const stoppedAt = Date.now();
    expect(await replicas[leader]?.stop()).toBe(0);
    const survivor = replicas[follower];
    if (!survivor) throw new Error("no follower");
    await eventually(
      async () => ((await isLeader(survivor)) ? true : undefined),
      "the follower to lead",
      15_000,
    );
    // Well inside the 15 s a killed leader costs: the Lease was released, not left to expire.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    const record = await lease();
    expect(record?.spec.holderIdentity).toMatch(new RegExp(`^replica-${String(follower)}_`));
    expect(record?.spec.leaseTransitions).toBe(transitions + 1);

    await api.kubectl(["scale", "statefulset", "db", "-n", NAMESPACE, "--replicas", "3"]);
    await waitForServices(api, NAMESPACE, ["db-0", "db-1", "db-2"]);
    replicas = [survivor];
  });

  it("takes over from a killed leader once its Lease has run out (15 s)", async () => {
    const [leader] = replicas;
    if (!leader) throw new Error("no leader");
    const standby = await startReplica("replica-9");
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await isLeader(standby)).toBe(false);
    const killedAt = Date.now();
    await leader.kill();
    await eventually(
      async () => ((await isLeader(standby)) ? true : undefined),
      "the standby to take the expired Lease",
      45_000,
      500,
    );
    const waited = Date.now() - killedAt;
    // Not before the Lease's duration, as measured on the standby's own clock since it last saw
    // the record change (at most one renewal period before the kill).
    expect(waited).toBeGreaterThanOrEqual(12_000);
    expect(waited).toBeLessThan(40_000);
    expect((await lease())?.spec.holderIdentity).toMatch(/^replica-9_/);

    await api.kubectl(["scale", "statefulset", "db", "-n", NAMESPACE, "--replicas", "1"]);
    await waitForServices(api, NAMESPACE, ["db-0"]);
    replicas = [standby];
  });
});

describe("garbage collection through ownerReferences", () => {
  it("removes the Services of a deleted StatefulSet while no controller runs", async () => {
    await api.createNamespace("gc");
    await api.apply([
      statefulSet({
        name: "db",
        namespace: "gc",
        replicas: 2,
        annotations: { "stsguard.io/expose": "NodePort" },
      }),
    ]);
    const controller = await startReplica("gc-replica");
    await waitForServices(api, "gc", ["db-0", "db-1"]);
    // Every controller replica stops: only the garbage collector is left to act.
    await Promise.all(processes.slice(1).map((replica) => replica.stop()));
    for (const replica of processes.slice(1)) expect([0, null]).toContain(await replica.exited);
    expect(await controller.exited).toBe(0);
    await api.kubectl(["delete", "statefulset", "db", "-n", "gc", "--wait=false"]);
    await waitForServices(api, "gc", [], 60_000);
    expect(await eventsOn(api, "gc", "db", "ServiceDeleted")).toEqual([]);
  });
});
