/**
 * StatefulSet writes through a real 1.26 API server calling `stsguard serve`: `kubectl scale`
 * (the statefulsets/scale subresource, whose Scale object carries no spec.ordinals), updates of
 * the StatefulSet itself, the governing Service check, and what a scale-down leaves behind for the
 * Services that outlive their pods.
 */
import { describe, expect, it } from "vitest";
import {
  goodService,
  headlessService,
  requiredLabels,
  statefulSet,
  type Json,
} from "./support/objects.js";
import {
  denied,
  kubectlWith,
  type Outcome,
  type StoredService,
  useWebhookWorld,
} from "./support/webhook.js";

const NS = "data";
const theWorld = useWebhookWorld({ namespaces: { [NS]: {} } }, async (world) => {
  await world.api.apply([
    headlessService(NS, "web"),
    statefulSet(NS, "web", { replicas: 3 }),
    headlessService(NS, "db"),
    statefulSet(NS, "db", { replicas: 3, start: 5 }),
  ]);
  await world.api.apply([
    goodService(NS, "web", 0),
    goodService(NS, "web", 1),
    goodService(NS, "web", 2),
    goodService(NS, "db", 5),
    goodService(NS, "db", 6),
    goodService(NS, "db", 7),
  ]);
});

const apply = (object: Json): Promise<Outcome> =>
  kubectlWith(theWorld().api, ["apply", "-f", "-"], object);
const scale = (name: string, replicas: number): Promise<Outcome> =>
  kubectlWith(
    theWorld().api,
    ["scale", "statefulset", name, "-n", NS, `--replicas=${replicas}`],
    null,
  );
const replicasOf = async (name: string): Promise<unknown> =>
  ((await theWorld().api.get<Json>("statefulset", name, NS))?.["spec"] as Json | undefined)?.[
    "replicas"
  ];

const orphaned = (sts: string, range: string, service: string): string =>
  `orphaned-service: StatefulSet ${NS}/${sts} will have ${range}, so Service ${service} selects pod ${service}, which will not exist; delete that Service or keep enough replicas`;

describe("governing-service", () => {
  it("warns when the Service spec.serviceName names does not exist", async () => {
    const outcome = await apply(statefulSet(NS, "orders", { replicas: 1 }));
    expect(outcome).toEqual({
      code: 0,
      warnings: [
        `governing-service: StatefulSet ${NS}/orders names governing Service orders, which does not exist in namespace ${NS}, so its pods get no per-pod DNS names; create a headless Service orders (clusterIP: None) that selects the pods`,
      ],
      error: "",
      stdout: "statefulset.apps/orders created",
    });
  });

  it("warns when that Service is not headless", async () => {
    await theWorld().api.apply([
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "ledger", namespace: NS },
        spec: { selector: { app: "ledger" }, ports: [{ port: 80 }] },
      },
    ]);
    const outcome = await apply(statefulSet(NS, "ledger", { replicas: 1 }));
    expect(outcome.warnings).toEqual([
      `governing-service: StatefulSet ${NS}/ledger names governing Service ledger, which is not headless, so its pods get no per-pod DNS names; use a Service with clusterIP: None (clusterIP cannot be changed: recreate it)`,
    ]);
  });

  it("warns when the headless Service selects other pods", async () => {
    await theWorld().api.apply([headlessService(NS, "queue", { app: "something-else" })]);
    const outcome = await apply(statefulSet(NS, "queue", { replicas: 1 }));
    expect(outcome.warnings).toEqual([
      `governing-service: StatefulSet ${NS}/queue names governing Service queue, whose selector app=something-else does not match the pod template's labels, so its pods get no per-pod DNS names; make the selector match spec.template.metadata.labels`,
    ]);
  });

  it("is silent with a headless Service that selects the pods", async () => {
    await theWorld().api.apply([headlessService(NS, "queue")]);
    const outcome = await apply(statefulSet(NS, "queue", { replicas: 2 }));
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "statefulset.apps/queue configured",
    });
  });
});

describe("kubectl scale (statefulsets/scale)", () => {
  it("3 to 1 warns about each per-pod Service left without its pod, and scales", async () => {
    const outcome = await scale("web", 1);
    expect(outcome).toEqual({
      code: 0,
      warnings: [
        orphaned("web", "1 replica (ordinal 0)", "web-1"),
        orphaned("web", "1 replica (ordinal 0)", "web-2"),
      ],
      error: "",
      stdout: "statefulset.apps/web scaled",
    });
    expect(await replicasOf("web")).toBe(1);
  });

  it("a Service update after the scale-down: the rule it already broke only warns", async () => {
    const outcome = await kubectlWith(
      theWorld().api,
      ["label", "service", "web-2", "-n", NS, "team=payments"],
      null,
    );
    expect(outcome).toEqual({
      code: 0,
      warnings: [
        `ordinal-out-of-range: Service ${NS}/web-2 selects pod web-2, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal (already so before this update, so only a warning)`,
      ],
      error: "",
      stdout: "service/web-2 labeled",
    });
    const service = await theWorld().api.get<StoredService>("service", "web-2", NS);
    expect(service?.metadata.labels).toEqual({ ...requiredLabels("web", 2), team: "payments" });
  });

  it("a Service deleted after the scale-down cannot be created again for the missing pod", async () => {
    const deleted = await kubectlWith(
      theWorld().api,
      ["delete", "service", "web-1", "-n", NS],
      null,
    );
    expect(deleted).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: 'service "web-1" deleted',
    });
    const again = await apply(goodService(NS, "web", 1));
    expect(again.error).toBe(
      denied(
        `ordinal-out-of-range: Service ${NS}/web-1 selects pod web-1, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
        "creating",
      ),
    );
  });

  it("1 to 3 warns about nothing, and the Service can be created again", async () => {
    const outcome = await scale("web", 3);
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "statefulset.apps/web scaled",
    });
    expect(await replicasOf("web")).toBe(3);
    expect(await apply(goodService(NS, "web", 1))).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "service/web-1 created",
    });
  });

  it("to 0: the Scale arrives without spec.replicas, and every per-pod Service is named", async () => {
    const outcome = await scale("web", 0);
    expect(outcome).toEqual({
      code: 0,
      warnings: [0, 1, 2].map((ordinal) =>
        orphaned("web", "0 replicas (no pods)", `web-${ordinal}`),
      ),
      error: "",
      stdout: "statefulset.apps/web scaled",
    });
    expect(await replicasOf("web")).toBe(0);
    expect((await scale("web", 3)).warnings).toEqual([]);
  });

  it("minds spec.ordinals.start, which the Scale object does not carry: 5-7 to 5-5", async () => {
    const outcome = await scale("db", 1);
    expect(outcome.warnings).toEqual([
      orphaned("db", "1 replica (ordinal 5)", "db-6"),
      orphaned("db", "1 replica (ordinal 5)", "db-7"),
    ]);
    expect(await replicasOf("db")).toBe(1);
  });
});

describe("StatefulSet updates", () => {
  it("kubectl apply with fewer replicas warns as a scale does", async () => {
    const outcome = await apply(statefulSet(NS, "web", { replicas: 2 }));
    expect(outcome).toEqual({
      code: 0,
      warnings: [orphaned("web", "2 replicas (ordinals 0-1)", "web-2")],
      error: "",
      stdout: "statefulset.apps/web configured",
    });
  });

  it("moving spec.ordinals.start warns about the ordinals it leaves", async () => {
    const outcome = await apply(statefulSet(NS, "db", { replicas: 3, start: 6 }));
    expect(outcome.warnings).toEqual([orphaned("db", "3 replicas (ordinals 6-8)", "db-5")]);
  });

  it("an update that leaves the range as it is still names the Service already orphaned", async () => {
    const outcome = await apply(
      statefulSet(NS, "db", { replicas: 3, start: 6, labels: { tier: "storage" } }),
    );
    expect(outcome).toEqual({
      code: 0,
      warnings: [orphaned("db", "3 replicas (ordinals 6-8)", "db-5")],
      error: "",
      stdout: "statefulset.apps/db configured",
    });
  });
});
