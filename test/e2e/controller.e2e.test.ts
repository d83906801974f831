/**
 * The per-pod Service controller against a real kube-apiserver 1.26: `serve --controller` with the
 * chart's RBAC (controller.enabled=true) and the chart's webhooks registered, doing what the
 * manual's page docs/controller.md promises. Each scenario has its own namespace.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
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
  annotate,
  eventsOn,
  getService,
  makeApprovalKey,
  managersOf,
  startControllerProcess,
  type ControllerProcess,
  metricValue,
  statefulSet,
  waitForEvent,
  waitForServices,
  type JsonObject,
  waitForLeader,
} from "./support/controller.js";
import { startInterference } from "./support/interference-webhook.js";
import { repoRoot } from "./support/paths.js";
import { runCli, startServe, type ServeProcess } from "./support/stsguard.js";

const CONTROLLER_VALUES = { controller: { enabled: true } };
const CONTROLLER_SA = `${RELEASE}-stsguard-controller`;
const EXPOSE = "stsguard.io/expose";
const PORTS = "stsguard.io/expose-ports";
const SERVICE_ANNOTATIONS = "stsguard.io/expose-service-annotations";

let cluster: Cluster | undefined;
let webhook: ServeProcess | undefined;
let serve: ControllerProcess | undefined;
let api: Cluster;

// As the chart runs them: the webhook under the admission ServiceAccount (read-only), the
// controller (`stsguard controller`) under its own, both with the approval key.
beforeAll(async () => {
  api = cluster = await startCluster();
  const admission = await installRbac(api, CONTROLLER_VALUES);
  const approvalKeyFile = await makeApprovalKey();
  webhook = await startServe({
    kubeconfig: admission,
    args: ["--approval-key-file", approvalKeyFile],
  });
  await installWebhooks(api, webhook, CONTROLLER_VALUES);
  await api.createNamespace("probe");
  await waitForWebhooks(api, "probe");
  serve = await startControllerProcess({
    kubeconfig: await serviceAccountKubeconfig(api, RELEASE_NAMESPACE, CONTROLLER_SA),
    approvalKeyFile,
    podName: "stsguard-controller-e2e-0",
    leaseNamespace: RELEASE_NAMESPACE,
    // docs/controller.md's configuration for its example; none may be copied by default.
    config: {
      controller: {
        serviceAnnotations: ["service.beta.kubernetes.io/aws-load-balancer-type", "example.com/*"],
      },
    },
  });
  await waitForLeader(serve);
});

afterAll(async () => {
  await serve?.stop();
  await webhook?.stop();
  await cluster?.stop();
});

/** A namespace and an annotated StatefulSet in it. */
async function exposed(
  namespace: string,
  options: Partial<Parameters<typeof statefulSet>[0]> & { type?: string } = {},
): Promise<void> {
  await api.createNamespace(namespace);
  const { type = "LoadBalancer", annotations = {}, ...rest } = options;
  await api.apply([
    statefulSet({
      name: "db",
      namespace,
      ...rest,
      annotations: { [EXPOSE]: type, [PORTS]: "client", ...annotations },
    }),
  ]);
}

describe("docs/controller.md: the worked example, as written", () => {
  const page = readFileSync(path.join(repoRoot, "docs/controller.md"), "utf8");
  const section = page.split("\n## Worked example: ")[1]?.split("\n## ")[0] ?? "";
  const manifestText = section.split("```yaml\n")[1]?.split("```")[0] ?? "";
  const consoleBlock = section.split("```console\n")[1]?.split("```")[0] ?? "";

  it("keeps kafka-0..2, then kafka-0..4 after kubectl scale, then kafka-0..2, with the Events shown", async () => {
    await api.createNamespace("streaming");
    const steps = parseConsole(consoleBlock);
    expect(steps.map((step) => step.command)).toEqual([
      "kubectl apply -f kafka.yaml",
      "kubectl get services -n streaming -l app.kubernetes.io/managed-by=stsguard-controller",
      "kubectl scale statefulset kafka -n streaming --replicas 5",
      "kubectl scale statefulset kafka -n streaming --replicas 3",
      "kubectl describe statefulset kafka -n streaming",
    ]);
    const run = async (command: string): Promise<string> => {
      const args = command.split(" ").slice(1);
      const file = args.indexOf("kafka.yaml");
      const input = file >= 0 ? manifestText : undefined;
      if (file >= 0) args[file] = "-";
      return (await api.kubectl(args, input === undefined ? {} : { input })).stdout;
    };

    await run(steps[0]?.command ?? "");
    await waitForServices(api, "streaming", ["kafka-0", "kafka-1", "kafka-2"]);
    // The listing, column by column, except what the cluster allocates (IPs, node ports, age).
    const listed = await run(steps[1]?.command ?? "");
    expect(tableRows(listed).map(withoutAllocations)).toEqual(
      tableRows(steps[1]?.output ?? "").map(withoutAllocations),
    );

    await run(steps[2]?.command ?? "");
    await waitForServices(api, "streaming", [
      "kafka-0",
      "kafka-1",
      "kafka-2",
      "kafka-3",
      "kafka-4",
    ]);
    await run(steps[3]?.command ?? "");
    await waitForServices(api, "streaming", ["kafka-0", "kafka-1", "kafka-2"]);
    await waitForEvent(api, "streaming", "kafka", "ServiceDeleted", (e) =>
      e.message.startsWith("Deleted per-pod Service kafka-4"),
    );

    // kubectl describe prints the Events the page shows, in that order (Age aside).
    const described = await run(steps[4]?.command ?? "");
    const eventLines = (text: string): string[][] =>
      text
        .split("\n")
        .filter((line) => /^\s+Normal\s+Service/.test(line))
        .map((line) => line.trim().split(/\s{2,}/))
        .map((columns) => columns.filter((column) => !/^(\d+[smhd])+$/.test(column)));
    expect(eventLines(described)).toEqual(eventLines(steps[4]?.output ?? ""));

    // Each Service is what `stsguard generate --type LoadBalancer --port kafka` prints, plus the
    // controller's label, the annotation asked for and the ownerReference.
    const generated = await runCli(["generate", "--type", "LoadBalancer", "--port", "kafka", "-"], {
      input: manifestText,
    });
    expect(generated.code).toBe(0);
    const sts = await api.get<{ metadata: { uid: string } }>("statefulset", "kafka", "streaming");
    for (const printed of generated.stdout
      .split(/^---$/m)
      .map((doc) => parseYaml(doc) as JsonObject)) {
      const metadata = printed["metadata"] as { name: string; labels: Record<string, string> };
      const stored = await getService(api, "streaming", metadata.name);
      expect(stored?.metadata.labels).toEqual({
        ...metadata.labels,
        "app.kubernetes.io/managed-by": "stsguard-controller",
      });
      expect(stored?.metadata.annotations).toEqual({
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
      });
      expect(stored?.metadata.ownerReferences).toEqual([
        {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          name: "kafka",
          uid: sts?.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      const spec = printed["spec"] as JsonObject;
      expect(stored?.spec).toMatchObject({
        type: spec["type"],
        externalTrafficPolicy: spec["externalTrafficPolicy"],
        selector: spec["selector"],
      });
      expect(
        stored?.spec.ports.map(({ name, port, targetPort }) => ({ name, port, targetPort })),
      ).toEqual([{ name: "kafka", port: 9092, targetPort: "kafka" }]);
      // Owned by the controller's apply alone: its create was turned into an Apply entry.
      expect(managersOf(stored)).toEqual(["stsguard-controller/Apply"]);
    }
  });
});

describe("following the StatefulSet", () => {
  it("follows a moved spec.ordinals.start: the new ordinals' Services come, the old ones go", async () => {
    await exposed("ordinals", { replicas: 2, start: 0 });
    await waitForServices(api, "ordinals", ["db-0", "db-1"]);
    await api.kubectl([
      "patch",
      "statefulset",
      "db",
      "-n",
      "ordinals",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { ordinals: { start: 5 } } }),
    ]);
    await waitForServices(api, "ordinals", ["db-5", "db-6"]);
    const six = await getService(api, "ordinals", "db-6");
    expect(six?.spec.selector).toEqual({ "statefulset.kubernetes.io/pod-name": "db-6" });
    expect(six?.metadata.labels?.["stsguard.io/ordinal"]).toBe("6");
  });

  it("makes NodePort Services with externalTrafficPolicy Local", async () => {
    await exposed("nodeport", { replicas: 1, type: "NodePort" });
    await waitForServices(api, "nodeport", ["db-0"]);
    const service = await getService(api, "nodeport", "db-0");
    expect(service?.spec.type).toBe("NodePort");
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
    expect(service?.spec.ports).toHaveLength(1);
    expect(service?.spec.ports[0]?.port).toBe(9092);
    expect(service?.spec.ports[0]?.nodePort).toBeGreaterThanOrEqual(30000);
  });

  it("changes a port and drops an annotation without leaving the old ones behind", async () => {
    await exposed("ports", {
      replicas: 1,
      annotations: { [SERVICE_ANNOTATIONS]: "example.com/tier: gold" },
    });
    await waitForServices(api, "ports", ["db-0"]);
    const before = await getService(api, "ports", "db-0");
    expect(before?.metadata.annotations).toEqual({ "example.com/tier": "gold" });
    await annotate(api, "ports", "db", { [PORTS]: "metrics", [SERVICE_ANNOTATIONS]: null });
    const after = await eventually(async () => {
      const service = await getService(api, "ports", "db-0");
      return service?.spec.ports[0]?.port === 9404 ? service : undefined;
    }, "db-0 to serve port 9404");
    expect(after.metadata.uid).toBe(before?.metadata.uid);
    expect(after.spec.ports.map((port) => `${port.name ?? ""}:${port.port}`)).toEqual([
      "metrics:9404",
    ]);
    expect(after.metadata.annotations).toBeUndefined();
    await waitForEvent(api, "ports", "db", "ServiceUpdated", (e) =>
      e.message.startsWith("Updated per-pod Service db-0 (LoadBalancer, port 9404)"),
    );
  });

  it("finishes a create of its own left as an Update entry, so a changed port is not kept twice", async () => {
    // What a controller that stopped between its POST and the conversion leaves behind. Until it
    // is in place, the annotations name a port the pods lack: the controller writes nothing.
    await exposed("adopt", { replicas: 1, annotations: { [PORTS]: "nosuchport" } });
    await waitForEvent(api, "adopt", "db", "InvalidExposeAnnotation");
    const sts = await api.get<{ metadata: { uid: string } }>("statefulset", "db", "adopt");
    const leftOver = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "db-0",
        namespace: "adopt",
        labels: {
          "app.kubernetes.io/managed-by": "stsguard-controller",
          "stsguard.io/statefulset": "db",
          "stsguard.io/ordinal": "0",
        },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            name: "db",
            uid: sts?.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        type: "LoadBalancer",
        externalTrafficPolicy: "Local",
        selector: { "statefulset.kubernetes.io/pod-name": "db-0" },
        ports: [{ name: "client", protocol: "TCP", port: 9092, targetPort: "client" }],
      },
    };
    await api.kubectl(["create", "--field-manager=stsguard-controller", "-f", "-"], {
      input: JSON.stringify(leftOver),
    });
    const before = await getService(api, "adopt", "db-0");
    expect(managersOf(before)).toEqual(["stsguard-controller/Update"]);
    await annotate(api, "adopt", "db", { [EXPOSE]: "LoadBalancer", [PORTS]: "metrics" });
    const after = await eventually(async () => {
      const service = await getService(api, "adopt", "db-0");
      return service?.spec.ports.some((port) => port.port === 9404) ? service : undefined;
    }, "db-0 to serve port 9404");
    expect(after.metadata.uid).toBe(before?.metadata.uid);
    expect(after.spec.ports.map((port) => port.port)).toEqual([9404]);
    expect(managersOf(after)).toEqual(["stsguard-controller/Apply"]);
  });

  it("deletes its Services when the expose annotation is removed", async () => {
    await exposed("unexpose", { replicas: 2 });
    await waitForServices(api, "unexpose", ["db-0", "db-1"]);
    await annotate(api, "unexpose", "db", { [EXPOSE]: null });
    await waitForServices(api, "unexpose", []);
    const deleted = await eventsOn(api, "unexpose", "db", "ServiceDeleted");
    expect(deleted.map((e) => e.message).sort()).toEqual([
      "Deleted per-pod Service db-0: the StatefulSet no longer asks for per-pod Services (expose annotation removed)",
      "Deleted per-pod Service db-1: the StatefulSet no longer asks for per-pod Services (expose annotation removed)",
    ]);
  });
});

describe("it never fights a human", () => {
  it("puts back a managed Service deleted by hand", async () => {
    await exposed("restore", { replicas: 2 });
    await waitForServices(api, "restore", ["db-0", "db-1"]);
    const before = await getService(api, "restore", "db-1");
    await api.kubectl(["delete", "service", "db-1", "-n", "restore"]);
    const after = await eventually(async () => {
      const service = await getService(api, "restore", "db-1");
      return service && service.metadata.uid !== before?.metadata.uid ? service : undefined;
    }, "db-1 to come back");
    expect(after.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("stsguard-controller");
    await waitForEvent(
      api,
      "restore",
      "db",
      "ServiceCreated",
      (e) => e.message.startsWith("Created per-pod Service db-1") && (e.count ?? 1) >= 2,
    );
  });

  it("keeps an annotation and loadBalancerSourceRanges set by kubectl through its next apply", async () => {
    await exposed("handset", { replicas: 1 });
    await waitForServices(api, "handset", ["db-0"]);
    await api.kubectl(["annotate", "service", "db-0", "-n", "handset", "example.com/owner=alice"]);
    await api.kubectl([
      "patch",
      "service",
      "db-0",
      "-n",
      "handset",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { loadBalancerSourceRanges: ["203.0.113.0/24"] } }),
    ]);
    // A new annotation to copy makes the controller apply db-0 again.
    await annotate(api, "handset", "db", { [SERVICE_ANNOTATIONS]: "example.com/tier: gold" });
    const after = await eventually(async () => {
      const service = await getService(api, "handset", "db-0");
      return service?.metadata.annotations?.["example.com/tier"] === "gold" ? service : undefined;
    }, "the controller's next apply of db-0");
    expect(after.metadata.annotations).toEqual({
      "example.com/owner": "alice",
      "example.com/tier": "gold",
    });
    expect(after.spec.loadBalancerSourceRanges).toEqual(["203.0.113.0/24"]);
    expect(managersOf(after)).toEqual([
      "kubectl-annotate/Update",
      "kubectl-patch/Update",
      "stsguard-controller/Apply",
    ]);
    expect(await eventsOn(api, "handset", "db", "ServiceConflict")).toEqual([]);
  });

  it("reports a kubectl edit of a field it owns as a ServiceConflict Event and does not take it back", async () => {
    await exposed("conflict", {
      replicas: 1,
      annotations: { [SERVICE_ANNOTATIONS]: "example.com/tier: gold" },
    });
    await waitForServices(api, "conflict", ["db-0"]);
    const before = await serve?.metrics();
    // A real `kubectl edit`, its editor a sed that changes the annotation's value.
    const edited = await api.kubectl(["edit", "service", "db-0", "-n", "conflict"], {
      env: { KUBE_EDITOR: "sed -i s/gold/silver/" },
    });
    expect(edited.stdout).toContain("service/db-0 edited");
    const event = await waitForEvent(api, "conflict", "db", "ServiceConflict");
    expect(event.type).toBe("Warning");
    expect(event.source?.component).toBe("stsguard-controller");
    expect(event.message).toBe(
      'Service db-0: Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: ' +
        ".metadata.annotations.example.com/tier. Not forced: the field was set by someone " +
        "else; set it back or remove it from their manager to let the controller manage it again",
    );
    const service = await getService(api, "conflict", "db-0");
    expect(service?.metadata.annotations?.["example.com/tier"]).toBe("silver");
    const metrics = await serve?.metrics();
    expect(
      metricValue(metrics ?? "", 'stsguard_controller_errors_total{kind="conflict"}'),
    ).toBeGreaterThan(
      metricValue(before ?? "", 'stsguard_controller_errors_total{kind="conflict"}'),
    );
  });

  it("leaves a hand-made Service with a wanted name alone and says so in a ServiceNotOwned Event", async () => {
    await api.createNamespace("handmade");
    const sts = statefulSet({ name: "db", namespace: "handmade", replicas: 2 });
    await api.apply([sts]);
    await api.apply([
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "db-1", namespace: "handmade", annotations: { "example.com/by": "bob" } },
        spec: {
          type: "LoadBalancer",
          selector: { "statefulset.kubernetes.io/pod-name": "db-1" },
          ports: [{ name: "custom", port: 7000 }],
        },
      },
    ]);
    const handMade = await getService(api, "handmade", "db-1");
    await annotate(api, "handmade", "db", { [EXPOSE]: "LoadBalancer", [PORTS]: "client" });
    await waitForServices(api, "handmade", ["db-0", "db-1"]);
    const event = await waitForEvent(api, "handmade", "db", "ServiceNotOwned");
    expect(event.message).toBe(
      "Service db-1 exists and was not created by stsguard-controller for this StatefulSet: " +
        "left alone (delete it to let the controller create its own)",
    );
    const after = await getService(api, "handmade", "db-1");
    expect(after?.metadata.resourceVersion).toBe(handMade?.metadata.resourceVersion);
    expect(managersOf(after)).not.toContain("stsguard-controller/Apply");
    expect(after?.spec.ports.map((port) => port.port)).toEqual([7000]);
  });
});

describe("races: a Service someone else writes between the controller's read and its write", () => {
  const controllerUser = `system:serviceaccount:${RELEASE_NAMESPACE}:${CONTROLLER_SA}`;
  /** Carol's Service, made with `kubectl create` (a per-pod one unless `selector` says else). */
  const createHumanService = async (
    namespace: string,
    name: string,
    selector: Record<string, string> = { "statefulset.kubernetes.io/pod-name": name },
  ): Promise<void> => {
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace, annotations: { "example.com/by": "carol" } },
      spec: { type: "LoadBalancer", selector, ports: [{ name: "custom", port: 7000 }] },
    };
    await api.kubectl(["create", "-f", "-"], { input: JSON.stringify(service) });
  };

  it("a create that finds the name taken writes nothing: the other Service stays as it was made", async () => {
    await api.createNamespace("race-create");
    await api.apply([statefulSet({ name: "db", namespace: "race-create", replicas: 1 })]);
    const interference = await startInterference(api, "race-create");
    try {
      // While the API server asks about the controller's create of db-0, carol creates db-0.
      await interference.arm(
        (r) => r.operation === "CREATE" && r.name === "db-0" && r.username === controllerUser,
        async () => {
          await createHumanService("race-create", "db-0");
        },
      );
      await annotate(api, "race-create", "db", { [EXPOSE]: "LoadBalancer" });
      await interference.fired();
      await waitForEvent(api, "race-create", "db", "ServiceNotOwned");
      const stored = await getService(api, "race-create", "db-0");
      expect(stored?.metadata.annotations).toEqual({ "example.com/by": "carol" });
      expect(stored?.metadata.labels?.["app.kubernetes.io/managed-by"]).toBeUndefined();
      expect(stored?.metadata.ownerReferences).toBeUndefined();
      expect(stored?.spec.ports.map((port) => port.port)).toEqual([7000]);
      expect(managersOf(stored)).toEqual(["kubectl-create/Update"]);
      // The controller's only request about db-0 was the create the API server refused.
      expect(
        interference.seen.filter((r) => r.name === "db-0" && r.username === controllerUser),
      ).toEqual([
        { operation: "CREATE", name: "db-0", namespace: "race-create", username: controllerUser },
      ]);
      expect(await eventsOn(api, "race-create", "db", "ServiceCreated")).toEqual([]);
    } finally {
      await interference.close();
    }
  });

  it("an apply meant for a Service that was replaced meanwhile writes nothing to the replacement", async () => {
    await exposed("race-apply", { replicas: 1 });
    await waitForServices(api, "race-apply", ["db-0"]);
    const interference = await startInterference(api, "race-apply");
    try {
      // While the API server asks about the controller's apply to db-0, carol replaces db-0.
      await interference.arm(
        (r) => r.operation === "UPDATE" && r.name === "db-0" && r.username === controllerUser,
        async () => {
          await api.kubectl(["delete", "service", "db-0", "-n", "race-apply"]);
          await createHumanService("race-apply", "db-0");
        },
      );
      await annotate(api, "race-apply", "db", { [SERVICE_ANNOTATIONS]: "example.com/tier: gold" });
      await interference.fired();
      await waitForEvent(api, "race-apply", "db", "ServiceNotOwned");
      const stored = await getService(api, "race-apply", "db-0");
      expect(stored?.metadata.annotations).toEqual({ "example.com/by": "carol" });
      expect(stored?.metadata.ownerReferences).toBeUndefined();
      expect(managersOf(stored)).toEqual(["kubectl-create/Update"]);
    } finally {
      await interference.close();
    }
  });

  it("a delete meant for a Service that was replaced meanwhile leaves the replacement", async () => {
    await exposed("race-delete", { replicas: 2 });
    await waitForServices(api, "race-delete", ["db-0", "db-1"]);
    const interference = await startInterference(api, "race-delete");
    try {
      await interference.arm(
        (r) => r.operation === "DELETE" && r.name === "db-1" && r.username === controllerUser,
        async () => {
          await api.kubectl(["delete", "service", "db-1", "-n", "race-delete", "--wait=false"]);
          // Not a per-pod Service: the webhook would deny one for the ordinal being scaled away.
          await createHumanService("race-delete", "db-1", { app: "db" });
        },
      );
      await api.kubectl(["scale", "statefulset", "db", "-n", "race-delete", "--replicas", "1"]);
      await interference.fired();
      const stored = await eventually(
        async () => (await getService(api, "race-delete", "db-1")) ?? undefined,
        "carol's db-1",
      );
      expect(stored.metadata.annotations).toEqual({ "example.com/by": "carol" });
      // Still there a while later: nothing deleted it.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect((await getService(api, "race-delete", "db-1"))?.metadata.uid).toBe(
        stored.metadata.uid,
      );
      expect(
        (await eventsOn(api, "race-delete", "db", "ServiceDeleted")).map((e) => e.message),
      ).toEqual([]);
    } finally {
      await interference.close();
    }
  });
});

interface ConsoleStep {
  readonly command: string;
  readonly output: string;
}

/** `$ command  # comment` lines and the output under each. */
function parseConsole(block: string): ConsoleStep[] {
  const steps: { command: string; output: string[] }[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("$ ")) {
      steps.push({
        command: line
          .slice(2)
          .replace(/\s+#.*$/, "")
          .trim(),
        output: [],
      });
    } else if (steps.length > 0 && line.trim() !== "") {
      steps[steps.length - 1]?.output.push(line);
    }
  }
  return steps.map((step) => ({ command: step.command, output: step.output.join("\n") }));
}

function tableRows(text: string): string[][] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.trim().split(/\s+/));
}

/** NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, without the IP, the node port and the age. */
function withoutAllocations(row: string[]): string[] {
  const [name, type, , external, ports] = row;
  return [name ?? "", type ?? "", external ?? "", (ports ?? "").replace(/:\d+\//g, ":*/")];
}
