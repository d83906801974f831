/**
 * The Helm chart's own objects on the real cluster: its webhook configurations pointed at a
 * `serve` on loopback (a `url` clientConfig in place of the in-cluster Service), and its RBAC, so
 * stsguard runs with exactly the rights the chart grants (a ServiceAccount token, not the admin).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { NAMESPACE, RELEASE, renderChart, type Manifest, type Values } from "../../chart/helm.js";
import { eventually, type Cluster } from "./cluster.js";
import { makeWorkDir, type ServeProcess } from "./stsguard.js";

export { NAMESPACE as RELEASE_NAMESPACE, RELEASE };

/** What the chart renders for the 1.26 API server these tests run. */
export function renderFor126(values: Values = {}): readonly Manifest[] {
  return renderChart({ values, extraArgs: ["--kube-version", "1.26.4"] });
}

type WebhookEntry = Record<string, unknown> & { clientConfig: Record<string, unknown> };

/**
 * Applies the chart's Mutating/ValidatingWebhookConfiguration with every webhook's clientConfig
 * replaced by `serve`'s URL and CA. Returns the objects applied.
 */
export async function installWebhooks(
  cluster: Cluster,
  serve: ServeProcess,
  values: Values = {},
): Promise<Manifest[]> {
  const configurations = renderFor126(values)
    .filter(
      (object) =>
        object.kind === "MutatingWebhookConfiguration" ||
        object.kind === "ValidatingWebhookConfiguration",
    )
    .map((object) => pointAt(object, serve));
  if (configurations.length === 0) throw new Error("the chart rendered no webhook configuration");
  await cluster.apply(configurations);
  return configurations;
}

function pointAt(configuration: Manifest, serve: ServeProcess): Manifest {
  const webhooks = (configuration["webhooks"] as WebhookEntry[]).map((webhook) => {
    const service = webhook.clientConfig["service"] as { path?: string } | undefined;
    return {
      ...webhook,
      clientConfig: { url: serve.url(service?.path ?? "/"), caBundle: serve.caBundle },
    };
  });
  // cert-manager's CA injection annotation has no cert-manager to act on here.
  const metadata = { ...configuration.metadata };
  delete metadata.annotations;
  return { ...configuration, metadata, webhooks };
}

export async function removeWebhooks(
  cluster: Cluster,
  configurations: readonly Manifest[],
): Promise<void> {
  for (const configuration of configurations) {
    await cluster.kubectl(
      [
        "delete",
        configuration.kind.toLowerCase(),
        configuration.metadata.name,
        "--ignore-not-found",
      ],
      {},
    );
  }
}

/**
 * Waits until the API server calls the webhooks: a dry-run create of a LoadBalancer per-pod
 * Service in `namespace` comes back with the labels the mutating webhook adds.
 */
export async function waitForWebhooks(cluster: Cluster, namespace: string): Promise<void> {
  const probe = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "webhook-probe-0", namespace },
    spec: {
      type: "LoadBalancer",
      selector: { "statefulset.kubernetes.io/pod-name": "webhook-probe-0" },
      ports: [{ port: 80 }],
    },
  };
  await eventually(
    async () => {
      const result = await cluster.kubectl(
        ["create", "--dry-run=server", "-o", "json", "-f", "-"],
        { input: JSON.stringify(probe), allowFailure: true },
      );
      if (result.code !== 0) return undefined;
      const created = JSON.parse(result.stdout) as {
        metadata: { labels?: Record<string, string> };
      };
      return created.metadata.labels?.["stsguard.io/statefulset"] === "webhook-probe"
        ? true
        : undefined;
    },
    "the API server to call stsguard's webhooks",
    30_000,
  );
}

/**
 * Applies the chart's ServiceAccounts and RBAC (the release namespace is created first) and
 * returns a kubeconfig that acts as `serviceAccount` with a fresh token.
 */
export async function installRbac(
  cluster: Cluster,
  values: Values = {},
  serviceAccount = `${RELEASE}-stsguard`,
): Promise<string> {
  const kinds = new Set([
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
  ]);
  const objects = renderFor126(values).filter((object) => kinds.has(object.kind));
  await cluster.createNamespace(NAMESPACE);
  await cluster.apply(objects);
  return serviceAccountKubeconfig(cluster, NAMESPACE, serviceAccount);
}

/** A kubeconfig for a ServiceAccount, with a token from the TokenRequest API. */
export async function serviceAccountKubeconfig(
  cluster: Cluster,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const token = (
    await cluster.kubectl(["create", "token", serviceAccount, "-n", namespace, "--duration=2h"])
  ).stdout.trim();
  const file = path.join(await makeWorkDir("kubeconfig"), "kubeconfig");
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "e2e",
          cluster: { server: cluster.apiserverUrl, "certificate-authority": cluster.caFile },
        },
      ],
      users: [{ name: serviceAccount, user: { token } }],
      contexts: [{ name: "e2e", context: { cluster: "e2e", user: serviceAccount, namespace } }],
      "current-context": "e2e",
    }),
    { mode: 0o600 },
  );
  return file;
}
