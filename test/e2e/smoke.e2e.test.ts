import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installRbac, installWebhooks, waitForWebhooks } from "./support/chart.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import { startServe, type ServeProcess } from "./support/stsguard.js";

let cluster: Cluster | undefined;
let serve: ServeProcess | undefined;

let api: Cluster;

beforeAll(async () => {
  api = cluster = await startCluster();
  const kubeconfig = await installRbac(api);
  serve = await startServe({ kubeconfig });
  await installWebhooks(api, serve);
  await api.createNamespace("smoke");
  await waitForWebhooks(api, "smoke");
});

afterAll(async () => {
  await serve?.stop();
  await cluster?.stop();
});

describe("the real API server calls stsguard", () => {
  it("mutates and admits a per-pod Service of an existing pod, denies one beyond the replicas", async () => {
    await api.apply([
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "web", namespace: "smoke" },
        spec: {
          replicas: 3,
          serviceName: "web",
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "nginx", ports: [{ containerPort: 80 }] }] },
          },
        },
      },
    ]);
    const service = (name: string): object => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "smoke" },
      spec: {
        type: "LoadBalancer",
        selector: { "statefulset.kubernetes.io/pod-name": name },
        ports: [{ port: 80 }],
      },
    });
    await api.apply([service("web-1")]);
    const stored = await api.get<{
      metadata: { labels: Record<string, string> };
      spec: { externalTrafficPolicy: string };
    }>("service", "web-1", "smoke");
    expect(stored?.spec.externalTrafficPolicy).toBe("Local");
    expect(stored?.metadata.labels).toMatchObject({
      "stsguard.io/statefulset": "web",
      "stsguard.io/ordinal": "1",
    });

    const denied = await api.apply([service("web-3")], { allowFailure: true });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      'admission webhook "validate.stsguard.io" denied the request: ordinal-out-of-range: Service smoke/web-3 selects pod web-3, but StatefulSet web has 3 replicas (ordinals 0-2)',
    );
    expect(await api.get("service", "web-3", "smoke")).toBeNull();
  });
});
