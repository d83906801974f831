/**
 * The webhook down under the chart's `failurePolicy: Fail`, on a real 1.26 API server: `serve`
 * killed, then what every kind of write gets; then `serve` back on the same address and
 * certificate, and writes work again.
 *
 * 1.26 has no webhook matchConditions (alpha in 1.27, beta in 1.28), so the chart renders them
 * only for 1.28 and later: here every Service write in a guarded namespace goes to the webhook,
 * per-pod or not, and fails while it is down. Only the namespaces the chart's namespaceSelector
 * leaves out (the release namespace, kube-system) keep working.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { renderChart } from "../chart/helm.js";
import { RELEASE_NAMESPACE } from "./support/chart.js";
import {
  goodService,
  headlessService,
  perPodService,
  requiredLabels,
  statefulSet,
  type Json,
} from "./support/objects.js";
import { startServe } from "./support/stsguard.js";
import {
  kubectlWith,
  type Outcome,
  type StoredService,
  useWebhookWorld,
} from "./support/webhook.js";

const NS = "payments";
const theWorld = useWebhookWorld({ namespaces: { [NS]: {} } }, async (world) => {
  await world.api.apply([
    headlessService(NS, "web"),
    statefulSet(NS, "web", { replicas: 2 }),
    goodService(NS, "web", 0),
  ]);
});

const kubectl = (args: readonly string[], object: Json | null = null): Promise<Outcome> =>
  kubectlWith(theWorld().api, args, object);

/** What the API server says when it cannot reach a webhook whose failurePolicy is Fail. */
function unreachable(webhook: "mutate" | "validate"): string {
  const { port } = theWorld().serve;
  return (
    `Internal error occurred: failed calling webhook "${webhook}.stsguard.io": failed to call webhook: ` +
    `Post "https://127.0.0.1:${port}/${webhook}?timeout=5s": dial tcp 127.0.0.1:${port}: connect: connection refused`
  );
}

const plainService = (namespace: string, name: string): Json => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace },
  spec: { selector: { app: "frontend" }, ports: [{ port: 80 }] },
});

describe("the chart's webhook configurations on 1.26", () => {
  it("have failurePolicy Fail and no matchConditions, as the API server stored them", async () => {
    for (const kind of ["mutatingwebhookconfiguration", "validatingwebhookconfiguration"]) {
      const [configuration] = await theWorld().api.list<{ webhooks: Json[] }>(kind);
      expect(
        configuration?.webhooks.map((w) => [w["name"], w["failurePolicy"], w["matchConditions"]]),
      ).toEqual([
        [
          kind.startsWith("mutating") ? "mutate.stsguard.io" : "validate.stsguard.io",
          "Fail",
          undefined,
        ],
      ]);
    }
  });

  it("must not render them: 1.26 refuses the 1.28 rendering's matchConditions", async () => {
    const rendered = renderChart({ extraArgs: ["--kube-version", "1.28.0"] }).find(
      (object) => object.kind === "ValidatingWebhookConfiguration",
    );
    if (!rendered) throw new Error("no ValidatingWebhookConfiguration rendered for 1.28");
    const webhooks = (rendered["webhooks"] as Json[]).map((webhook): Json => ({
      ...webhook,
      clientConfig: { url: "https://127.0.0.1:9/validate" },
    }));
    expect(webhooks.map((webhook) => webhook["matchConditions"])).not.toContain(undefined);
    const outcome = await kubectl(["create", "-f", "-"], {
      ...rendered,
      metadata: { name: "rendered-for-1-28" },
      webhooks,
    });
    expect(outcome.error).toBe(
      'Error from server (BadRequest): error when creating "STDIN": ValidatingWebhookConfiguration in version "v1" cannot be handled as a ValidatingWebhookConfiguration: strict decoding error: unknown field "webhooks[0].matchConditions"',
    );
  });
});

describe("serve killed", () => {
  beforeAll(async () => {
    await theWorld().serve.kill();
  });

  it("a per-pod Service create fails with the API server's error naming the mutating webhook", async () => {
    const outcome = await kubectl(
      ["create", "-f", "-"],
      perPodService(NS, "web-1", { type: "LoadBalancer" }),
    );
    expect(outcome).toEqual({
      code: 1,
      warnings: [],
      error: `Error from server (InternalError): error when creating "STDIN": ${unreachable("mutate")}`,
      stdout: "",
    });
    expect(await theWorld().api.get("service", "web-1", NS)).toBeNull();
  });

  it("an update of a per-pod Service fails the same way", async () => {
    const outcome = await kubectl(["label", "service", "web-0", "-n", NS, "team=payments"]);
    expect(outcome.error).toBe(`Error from server (InternalError): ${unreachable("mutate")}`);
  });

  it("a Service that is not per-pod fails too: 1.26 cannot skip it without matchConditions", async () => {
    const outcome = await kubectl(["create", "-f", "-"], plainService(NS, "frontend"));
    expect(outcome.error).toBe(
      `Error from server (InternalError): error when creating "STDIN": ${unreachable("mutate")}`,
    );
  });

  it("kubectl scale fails with the error naming the validating webhook", async () => {
    const outcome = await kubectl(["scale", "statefulset", "web", "-n", NS, "--replicas=3"]);
    expect(outcome.error).toBe(`Error from server (InternalError): ${unreachable("validate")}`);
    const sts = await theWorld().api.get<{ spec: { replicas: number } }>("statefulset", "web", NS);
    expect(sts?.spec.replicas).toBe(2);
  });

  it("a StatefulSet create fails the same way", async () => {
    const outcome = await kubectl(["create", "-f", "-"], statefulSet(NS, "cache"));
    expect(outcome.error).toBe(
      `Error from server (InternalError): error when creating "STDIN": ${unreachable("validate")}`,
    );
  });

  it("deletes go through: the webhooks do not register DELETE", async () => {
    const outcome = await kubectl(["delete", "service", "web-0", "-n", NS]);
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: 'service "web-0" deleted',
    });
  });

  it("the release namespace is left out of both webhooks, so writes there work", async () => {
    const outcome = await kubectl(
      ["create", "-f", "-"],
      perPodService(RELEASE_NAMESPACE, "web-1", { type: "LoadBalancer" }),
    );
    expect(outcome).toEqual({ code: 0, warnings: [], error: "", stdout: "service/web-1 created" });
    // Not judged: nothing was added.
    const stored = await theWorld().api.get<StoredService>("service", "web-1", RELEASE_NAMESPACE);
    expect(stored?.metadata.labels).toBeUndefined();
  });
});

describe("serve back where it was", () => {
  beforeAll(async () => {
    const previous = theWorld().serve;
    theWorld().serve = await startServe({
      kubeconfig: theWorld().kubeconfig,
      port: previous.port,
      metricsPort: previous.metricsPort,
      certsDir: previous.certsDir,
    });
  });

  it("writes work again, with the fixes", async () => {
    const outcome = await kubectl(
      ["create", "-f", "-"],
      perPodService(NS, "web-1", { type: "LoadBalancer" }),
    );
    expect(outcome).toEqual({ code: 0, warnings: [], error: "", stdout: "service/web-1 created" });
    const stored = await theWorld().api.get<StoredService>("service", "web-1", NS);
    expect(stored?.metadata.labels).toEqual(requiredLabels("web", 1));
    expect(stored?.spec.externalTrafficPolicy).toBe("Local");
    const scaled = await kubectl(["scale", "statefulset", "web", "-n", NS, "--replicas=3"]);
    expect(scaled).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "statefulset.apps/web scaled",
    });
  });
});
