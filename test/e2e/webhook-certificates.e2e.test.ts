/**
 * The chart's `certificates.mode=helm` across an upgrade, against a real 1.26 API server: the
 * first render makes a CA and serving certificate and stores them in a Secret (applied here as
 * `helm install` would); a later render (`helm upgrade`, `lookup` reading the cluster) must reuse
 * that Secret instead of rotating the CA the API server trusts; a Secret that lost its CA gets a
 * whole new consistent set.
 */
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NAMESPACE, tryRenderChartAsync, type Manifest } from "../chart/helm.js";
import { startCluster, type Cluster } from "./support/cluster.js";

let cluster: Cluster | undefined;

function api(): Cluster {
  if (!cluster) throw new Error("the cluster did not start");
  return cluster;
}

interface Rendered {
  readonly secret: Manifest & { data: Record<string, string> };
  readonly caBundles: readonly (string | undefined)[];
}

/** `helm template --dry-run=server` against the cluster: Helm's `lookup` reads it. */
async function render(): Promise<Rendered> {
  const result = await tryRenderChartAsync({
    values: { certificates: { mode: "helm" } },
    extraArgs: ["--dry-run=server", "--kubeconfig", api().kubeconfig],
  });
  if (!result.ok) throw new Error(result.error);
  const secret = result.objects.find((o) => o.kind === "Secret") as Rendered["secret"] | undefined;
  if (!secret) throw new Error("no Secret rendered");
  const caBundles = result.objects
    .filter((o) => o.kind.endsWith("WebhookConfiguration"))
    .map(
      (o) => (o["webhooks"] as { clientConfig: { caBundle?: string } }[])[0]?.clientConfig.caBundle,
    );
  expect(caBundles).toHaveLength(2);
  return { secret, caBundles };
}

const pem = (base64: string | undefined): string =>
  Buffer.from(base64 ?? "", "base64").toString("utf8");

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.createNamespace(NAMESPACE);
});

afterAll(async () => {
  await cluster?.stop();
});

describe("certificates.mode=helm against a cluster", () => {
  let installed: Rendered;

  beforeAll(async () => {
    installed = await render();
    await api().apply([installed.secret]);
  });

  it("reuses the stored CA, certificate and key on upgrade instead of generating new ones", async () => {
    const upgraded = await render();
    expect(upgraded.secret.data).toEqual(installed.secret.data);
    expect(upgraded.caBundles).toEqual([
      installed.secret.data["ca.crt"],
      installed.secret.data["ca.crt"],
    ]);
  });

  it("generates a consistent new set when the stored Secret lacks ca.crt", async () => {
    const withoutCa = Object.fromEntries(
      Object.entries(installed.secret.data).filter(([key]) => key !== "ca.crt"),
    );
    await api().kubectl(["replace", "-f", "-"], {
      input: JSON.stringify({ ...installed.secret, data: withoutCa }),
    });
    const renewed = await render();
    expect(renewed.secret.data["tls.crt"]).not.toBe(installed.secret.data["tls.crt"]);
    const ca = new X509Certificate(pem(renewed.secret.data["ca.crt"]));
    expect(new X509Certificate(pem(renewed.secret.data["tls.crt"])).checkIssued(ca)).toBe(true);
    expect(renewed.caBundles).toEqual([
      renewed.secret.data["ca.crt"],
      renewed.secret.data["ca.crt"],
    ]);
  });

  it("generates a new set when there is no Secret yet", async () => {
    await api().kubectl(["delete", "secret", installed.secret.metadata.name, "-n", NAMESPACE]);
    const fresh = await render();
    expect(fresh.secret.data["tls.crt"]).not.toBe(installed.secret.data["tls.crt"]);
    const ca = new X509Certificate(pem(fresh.secret.data["ca.crt"]));
    expect(new X509Certificate(pem(fresh.secret.data["tls.crt"])).checkIssued(ca)).toBe(true);
    expect(fresh.caBundles).toEqual([fresh.secret.data["ca.crt"], fresh.secret.data["ca.crt"]]);
  });
});
