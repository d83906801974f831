// Issue 20, items 3 and 4, against the real API server: a namespace owner who may label their own
// namespace (and nothing more) cannot switch stsguard off or lower its mode with a label, unless
// the configuration lists the namespace in labelsMayLowerIn; the chart's webhooks are called for
// a labelled namespace, so the server can re-check. An exemption that is not scoped by namespaces
// or users/groups is refused, at start and on reload, and the running configuration keeps answering.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statefulSet } from "./support/objects.js";
import { installRbac, installWebhooks, waitForWebhooks } from "./support/chart.js";
import { eventually, startCluster, type Cluster, type Identity } from "./support/cluster.js";
import { runCli, makeWorkDir, startServe, type ServeProcess } from "./support/stsguard.js";
import { writeFileSync } from "node:fs";
import path from "node:path";

const CONFIG = {
  mode: "enforce",
  labelsMayLowerIn: ["sandbox-*"],
  optOutLabel: { key: "stsguard.io/admission", value: "disabled" },
  namespaceModeLabel: true,
  namespaces: [{ selector: { matchLabels: { tier: "sandbox" } }, mode: "monitor" }],
};

/** Owns team-a and sandbox-1: may label those two Namespaces, and write Services in them. */
const OWNER: Identity = { user: "team-owner" };

let cluster: Cluster | undefined;
let api: Cluster;
let serve: ServeProcess | undefined;

/** web-5: out of range for 2 replicas, so enforce denies it. */
const outOfRange = (namespace: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web-5", namespace },
  spec: {
    type: "LoadBalancer",
    selector: { "statefulset.kubernetes.io/pod-name": "web-5" },
    ports: [{ port: 80 }],
  },
});

const DENIED =
  'admission webhook "validate.stsguard.io" denied the request: ordinal-out-of-range: Service';

beforeAll(async () => {
  api = cluster = await startCluster();
  const kubeconfig = await installRbac(api);
  serve = await startServe({ kubeconfig, config: CONFIG });
  await installWebhooks(api, serve);
  for (const namespace of ["team-a", "sandbox-1"]) {
    await api.createNamespace(namespace);
    await api.apply([statefulSet(namespace, "web", { replicas: 2 })]);
  }
  await api.apply([
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "label-own-namespaces" },
      rules: [
        {
          apiGroups: [""],
          resources: ["namespaces"],
          resourceNames: ["team-a", "sandbox-1"],
          verbs: ["get", "patch"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "team-owner-labels" },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "label-own-namespaces",
      },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: OWNER.user }],
    },
    // Not the built-in `admin`: its rules are aggregated by kube-controller-manager, which this
    // cluster does not run.
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "team-writer" },
      rules: [
        {
          apiGroups: [""],
          resources: ["services"],
          verbs: ["get", "list", "create", "update", "patch", "delete"],
        },
      ],
    },
    ...["team-a", "sandbox-1"].map((namespace) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "team-owner-writer", namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "team-writer" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: OWNER.user }],
    })),
  ]);
  await waitForWebhooks(api, "team-a");
});

afterAll(async () => {
  await serve?.stop();
  await cluster?.stop();
});

async function labelAsOwner(namespace: string, ...labels: string[]): Promise<void> {
  await api.kubectl(["label", "namespace", namespace, "--overwrite", ...labels], { as: OWNER });
}

/** Creates web-5 as the owner; the API server's answer. */
function createOutOfRange(namespace: string) {
  return api.apply([outOfRange(namespace)], { as: OWNER, allowFailure: true });
}

describe("a namespace owner's labels", () => {
  it("the owner may label their namespace: RBAC does not stop this", async () => {
    const canI = await api.kubectl(
      ["auth", "can-i", "patch", "namespaces/team-a", "--as", OWNER.user],
      { allowFailure: true },
    );
    expect(canI.stdout.trim()).toBe("yes");
  });

  it("outside labelsMayLowerIn, neither the opt-out label, the mode label nor a lenient selector rule lowers anything; inside it, the opt-out label does", async () => {
    await labelAsOwner(
      "team-a",
      "stsguard.io/admission=disabled",
      "stsguard.io/mode=off",
      "tier=sandbox",
    );
    await labelAsOwner("sandbox-1", "stsguard.io/admission=disabled");
    // Labelled after team-a: once the server honours sandbox-1's label, it has seen team-a's.
    await eventually(
      async () => ((await createOutOfRange("sandbox-1")).code === 0 ? true : undefined),
      "the opt-out to reach the namespace cache",
    );
    const result = await createOutOfRange("team-a");
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${DENIED} team-a/web-5 selects pod web-5`);
    expect(await api.get("service", "web-5", "team-a")).toBeNull();

    // sandbox-1 is in mode off: the webhook neither patched nor judged its Service.
    const stored = await api.get<{
      metadata: { labels?: Record<string, string> };
      spec: { externalTrafficPolicy: string };
    }>("service", "web-5", "sandbox-1");
    expect(stored?.metadata.labels?.["stsguard.io/statefulset"]).toBeUndefined();
    expect(stored?.spec.externalTrafficPolicy).toBe("Cluster");
  });

  it("removing the opt-out label switches stsguard back on", async () => {
    await api.kubectl(["delete", "service", "web-5", "-n", "sandbox-1"]);
    await api.kubectl(["label", "namespace", "sandbox-1", "stsguard.io/admission-"], { as: OWNER });
    const denied = await eventually(async () => {
      const result = await createOutOfRange("sandbox-1");
      if (result.code !== 0) return result;
      // Still off: undo it, so the next try is a create again.
      await api.kubectl(["delete", "service", "web-5", "-n", "sandbox-1"]);
      return undefined;
    }, "the relabel to reach the namespace cache");
    expect(denied.stderr).toContain(`${DENIED} sandbox-1/web-5 selects pod web-5`);
  });
});

describe("exemptions must be scoped by namespaces or users/groups", () => {
  const UNSCOPED = {
    ...CONFIG,
    exemptions: [{ name: "kafka", reason: "PLAT-1", statefulSets: ["web"] }],
  };
  const REFUSAL =
    "exemptions[0] (kafka): scope it with namespaces, or with users or groups: services, statefulSets and namespaceSelector match names and labels that whoever creates the object can choose";

  it("a running server refuses the change and keeps answering with the configuration it has", async () => {
    if (!serve) throw new Error("serve did not start");
    serve.writeConfig(UNSCOPED);
    const refused = await eventually(
      () =>
        Promise.resolve(
          serve
            ?.logs()
            .find(
              (line) => typeof line["err"] === "object" && JSON.stringify(line).includes(REFUSAL),
            ),
        ),
      "the reload to be refused",
    );
    expect(JSON.stringify(refused)).toContain(REFUSAL);
    const result = await createOutOfRange("team-a");
    expect(result.stderr).toContain(`${DENIED} team-a/web-5 selects pod web-5`);
  });

  it("serve refuses to start with it, naming the exemption", async () => {
    const work = await makeWorkDir("unscoped");
    const file = path.join(work, "config.yaml");
    writeFileSync(file, JSON.stringify(UNSCOPED));
    const result = await runCli(["serve", "--manifests", work, "--config", file, "--port", "0"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}: ${REFUSAL}`);
  });
});
