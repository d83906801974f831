/**
 * The controller is no way around RBAC (issue 20), against a real kube-apiserver 1.26 with the
 * chart's RBAC and webhooks: only a user who may create Services gets them made by annotating a
 * StatefulSet (impersonated users, a SubjectAccessReview at admission, an approval the controller
 * checks); exposure nobody entitled approved is never acted on; the configuration's limits hold
 * (a million replicas included); and only the controller's ServiceAccount may write Services.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  installRbac,
  installWebhooks,
  RELEASE,
  RELEASE_NAMESPACE,
  removeWebhooks,
  serviceAccountKubeconfig,
  waitForWebhooks,
} from "./support/chart.js";
import { eventually, startCluster, type Cluster } from "./support/cluster.js";
import {
  eventsOn,
  getService,
  makeApprovalKey,
  metricValue,
  serviceNames,
  startControllerProcess,
  statefulSet,
  waitForEvent,
  waitForServices,
  type ControllerProcess,
  waitForLeader,
} from "./support/controller.js";
import { startServe, type ServeProcess } from "./support/stsguard.js";
import type { Manifest } from "../chart/helm.js";

const CONTROLLER_VALUES = { controller: { enabled: true } };
const ADMISSION_SA = `system:serviceaccount:${RELEASE_NAMESPACE}:${RELEASE}-stsguard`;
const CONTROLLER_SA = `system:serviceaccount:${RELEASE_NAMESPACE}:${RELEASE}-stsguard-controller`;
const NS = "trust";
const PATCHER = { user: "pat", groups: ["dev"] };
const OWNER = { user: "olivia", groups: ["dev"] };

let cluster: Cluster | undefined;
let api: Cluster;
let webhook: ServeProcess | undefined;
let controller: ControllerProcess | undefined;
let webhooks: Manifest[] = [];

beforeAll(async () => {
  api = cluster = await startCluster();
  const admission = await installRbac(api, CONTROLLER_VALUES);
  const approvalKeyFile = await makeApprovalKey();
  webhook = await startServe({
    kubeconfig: admission,
    args: ["--approval-key-file", approvalKeyFile],
  });
  webhooks = await installWebhooks(api, webhook, CONTROLLER_VALUES);
  await api.createNamespace(NS);
  await waitForWebhooks(api, NS);
  // pat may change StatefulSets but not create Services; olivia may do both.
  await api.apply([
    role("statefulsets-editor", [
      {
        apiGroups: ["apps"],
        resources: ["statefulsets"],
        verbs: ["get", "list", "create", "patch", "update"],
      },
    ]),
    role("services-creator", [{ apiGroups: [""], resources: ["services"], verbs: ["create"] }]),
    binding("statefulsets-editor", [PATCHER.user, OWNER.user]),
    binding("services-creator", [OWNER.user]),
  ]);
  controller = await startControllerProcess({
    kubeconfig: await serviceAccountKubeconfig(
      api,
      RELEASE_NAMESPACE,
      `${RELEASE}-stsguard-controller`,
    ),
    approvalKeyFile,
    podName: "trust-controller-0",
    leaseNamespace: RELEASE_NAMESPACE,
  });
  await waitForLeader(controller);
});

afterAll(async () => {
  await controller?.stop();
  await webhook?.stop();
  await cluster?.stop();
});

function role(name: string, rules: object[]): object {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace: NS },
    rules,
  };
}

function binding(name: string, users: string[]): object {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace: NS },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: users.map((user) => ({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "User",
      name: user,
    })),
  };
}

const EXPOSE = ["stsguard.io/expose=LoadBalancer", "stsguard.io/expose-ports=client"];

describe("who may ask the controller for Services", () => {
  it("denies a user who may patch StatefulSets but not create Services, and the controller writes nothing", async () => {
    await api.apply([statefulSet({ name: "pg", namespace: NS, replicas: 2 })]);
    const denied = await api.kubectl(["annotate", "statefulset", "pg", "-n", NS, ...EXPOSE], {
      as: PATCHER,
      allowFailure: true,
    });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      'admission webhook "approve-exposure.stsguard.io" denied the request: pat may not create services in namespace trust: ' +
        "the stsguard.io/expose* annotations make stsguard's controller create Services on your behalf, " +
        "so setting or changing them needs that right (RBAC: verb create, resource services, namespace trust)",
    );
    const sts = await api.get<{ metadata: { annotations?: Record<string, string> } }>(
      "statefulset",
      "pg",
      NS,
    );
    expect(sts?.metadata.annotations?.["stsguard.io/expose"]).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await serviceNames(api, NS)).toEqual([]);
  });

  it("admits a user who may create Services: the webhook approves, the controller makes them", async () => {
    await api.kubectl(["annotate", "statefulset", "pg", "-n", NS, ...EXPOSE], { as: OWNER });
    const sts = await api.get<{ metadata: { annotations: Record<string, string> } }>(
      "statefulset",
      "pg",
      NS,
    );
    expect(sts?.metadata.annotations["stsguard.io/approved-exposure"]).toMatch(
      /^v1:[\w-]{43}:olivia$/,
    );
    await waitForServices(api, NS, ["pg-0", "pg-1"]);
    // pat may still scale what olivia approved, but not change what is exposed.
    const changed = await api.kubectl(
      [
        "annotate",
        "statefulset",
        "pg",
        "-n",
        NS,
        "--overwrite",
        "stsguard.io/expose-ports=metrics",
      ],
      { as: PATCHER, allowFailure: true },
    );
    expect(changed.stderr).toContain("pat may not create services in namespace trust");
    expect((await getService(api, NS, "pg-0"))?.spec.ports.map((p) => p.port)).toEqual([9092]);
  });

  it("never acts on expose annotations written while the webhook was not called, until an entitled user's update approves them", async () => {
    await api.apply([
      statefulSet({ name: "approved", namespace: NS, replicas: 1 }),
      statefulSet({ name: "legacy", namespace: NS, replicas: 1 }),
    ]);
    await api.kubectl(["annotate", "statefulset", "approved", "-n", NS, ...EXPOSE], { as: OWNER });
    await waitForServices(api, NS, ["approved-0", "pg-0", "pg-1"]);
    const approval = (
      await api.get<{ metadata: { annotations: Record<string, string> } }>(
        "statefulset",
        "approved",
        NS,
      )
    )?.metadata.annotations["stsguard.io/approved-exposure"];
    // The webhook is gone (deleted, or an outage under failurePolicy Ignore): pat annotates
    // "legacy", copying the approval of "approved" (same annotations) as a forgery.
    await removeWebhooks(api, webhooks);
    await api.kubectl(
      [
        "annotate",
        "statefulset",
        "legacy",
        "-n",
        NS,
        ...EXPOSE,
        `stsguard.io/approved-exposure=${approval ?? ""}`,
      ],
      { as: PATCHER },
    );
    const event = await waitForEvent(api, NS, "legacy", "ExposeNotApproved");
    expect(event.message).toBe(
      "annotation stsguard.io/approved-exposure does not match the expose annotations (changed since they were approved, or not written by stsguard); " +
        "an update of the StatefulSet by a user who may create Services in trust approves them; no Service was written or deleted",
    );
    await api.kubectl(
      ["annotate", "statefulset", "legacy", "-n", NS, "stsguard.io/approved-exposure-"],
      { as: PATCHER },
    );
    await waitForEvent(api, NS, "legacy", "ExposeNotApproved", (e) =>
      e.message.startsWith("the expose annotations were not approved at admission"),
    );
    expect(await serviceNames(api, NS)).toEqual(["approved-0", "pg-0", "pg-1"]);
    const metrics = await controller?.metrics();
    expect(
      metricValue(metrics ?? "", 'stsguard_controller_errors_total{kind="not-approved"}'),
    ).toBeGreaterThanOrEqual(2);

    // Back: an update by pat leaves them unapproved; one by olivia approves them.
    webhooks = await installWebhooks(api, webhook as ServeProcess, CONTROLLER_VALUES);
    await waitForWebhooks(api, NS);
    await api.kubectl(["label", "statefulset", "legacy", "-n", NS, "touched-by=pat"], {
      as: PATCHER,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await serviceNames(api, NS)).not.toContain("legacy-0");
    await api.kubectl(["label", "statefulset", "legacy", "-n", NS, "reviewed-by=olivia"], {
      as: OWNER,
    });
    await waitForServices(api, NS, ["approved-0", "legacy-0", "pg-0", "pg-1"]);
  });
});

describe("the configuration's limits", () => {
  it("refuses replicas: 1000000 with an Event and a metric, writes nothing, and stays up", async () => {
    await api.createNamespace("huge");
    await api.apply([
      statefulSet({
        name: "huge",
        namespace: "huge",
        replicas: 1_000_000,
        annotations: { "stsguard.io/expose": "LoadBalancer", "stsguard.io/expose-ports": "client" },
      }),
    ]);
    const event = await waitForEvent(api, "huge", "huge", "ExposeNotAllowed");
    expect(event.message).toBe(
      "1000000 replicas would need 1000000 Services; at most 64 per StatefulSet (controller.maxServicesPerStatefulSet); no Service was written or deleted",
    );
    expect(await serviceNames(api, "huge")).toEqual([]);
    const metrics = await controller?.metrics();
    expect(
      metricValue(metrics ?? "", 'stsguard_controller_errors_total{kind="not-allowed"}'),
    ).toBeGreaterThanOrEqual(1);
    // Its heap is what it was: nothing was built for the million.
    const heap = metricValue(metrics ?? "", "nodejs_heap_size_used_bytes");
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThan(150 * 1024 * 1024);
    expect(metricValue(metrics ?? "", "stsguard_controller_leader")).toBe(1);
  });

  it("copies only the annotation keys the configuration allows, and a reload applies at once", async () => {
    await api.createNamespace("copy");
    await api.apply([
      statefulSet({
        name: "lb",
        namespace: "copy",
        replicas: 1,
        annotations: {
          "stsguard.io/expose": "LoadBalancer",
          "stsguard.io/expose-ports": "client",
          "stsguard.io/expose-service-annotations":
            "service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing",
        },
      }),
    ]);
    const refused = await waitForEvent(api, "copy", "lb", "ExposeNotAllowed");
    expect(refused.message).toBe(
      "annotation service.beta.kubernetes.io/aws-load-balancer-scheme may not be copied onto Services (controller.serviceAnnotations allows none); no Service was written or deleted",
    );
    expect(await serviceNames(api, "copy")).toEqual([]);
    controller?.writeConfig({
      controller: { serviceAnnotations: ["service.beta.kubernetes.io/aws-load-balancer-*"] },
    });
    // The next reconcile (any change to the StatefulSet) reads the reloaded limits.
    await eventually(
      async () => {
        await api.kubectl([
          "label",
          "statefulset",
          "lb",
          "-n",
          "copy",
          "--overwrite",
          `nudge=${String(Date.now())}`,
        ]);
        return (await serviceNames(api, "copy")).includes("lb-0") ? true : undefined;
      },
      "lb-0 after the reload",
      30_000,
      1_000,
    );
    expect((await getService(api, "copy", "lb-0"))?.metadata.annotations).toEqual({
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    });
  });

  it("exposes only container ports the pod template declares", async () => {
    await api.createNamespace("ports");
    await api.apply([
      statefulSet({
        name: "ssh",
        namespace: "ports",
        replicas: 1,
        annotations: { "stsguard.io/expose": "NodePort", "stsguard.io/expose-ports": "22" },
      }),
    ]);
    const event = await waitForEvent(api, "ports", "ssh", "InvalidExposeAnnotation");
    expect(event.message).toBe(
      "annotation stsguard.io/expose-ports: port 22 is not a container port of the pod template (only declared ports may be exposed); no Service was written or deleted",
    );
    expect(await serviceNames(api, "ports")).toEqual([]);
  });
});

describe("least privilege", () => {
  it("lets the controller's ServiceAccount write Services and the admission one only read them", async () => {
    const canI = async (user: string, verb: string, resource: string): Promise<string> =>
      (
        await api.kubectl(["auth", "can-i", verb, resource, "-n", NS, "--as", user], {
          allowFailure: true,
        })
      ).stdout.trim();
    for (const verb of ["create", "patch", "update", "delete"]) {
      expect(`${verb}: ${await canI(ADMISSION_SA, verb, "services")}`).toBe(`${verb}: no`);
    }
    for (const verb of ["get", "list", "watch"]) {
      expect(`${verb}: ${await canI(ADMISSION_SA, verb, "services")}`).toBe(`${verb}: yes`);
    }
    expect(await canI(ADMISSION_SA, "create", "subjectaccessreviews.authorization.k8s.io")).toBe(
      "yes",
    );
    expect(await canI(ADMISSION_SA, "patch", "statefulsets.apps")).toBe("no");
    for (const verb of ["create", "patch", "delete"]) {
      expect(`${verb}: ${await canI(CONTROLLER_SA, verb, "services")}`).toBe(`${verb}: yes`);
    }
    expect(await canI(CONTROLLER_SA, "update", "services")).toBe("no");
    expect(await canI(CONTROLLER_SA, "patch", "statefulsets.apps")).toBe("no");
    expect(await canI(CONTROLLER_SA, "get", "secrets")).toBe("no");
    // The Services above were written by the controller's ServiceAccount.
    expect((await eventsOn(api, NS, "pg", "ServiceCreated")).length).toBe(2);
  });
});
