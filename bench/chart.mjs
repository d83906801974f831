// The chart as the benchmark runs it: `helm template` of charts/stsguard with its default values
// (the real helm, unpacked by scripts/install-tool.mjs), and from that render the webhook's
// command line, environment (NODE_OPTIONS, STSGUARD_LOG_LEVEL), configuration file, RBAC and
// webhook configurations. The benchmark then starts what a pod of the chart would run.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

export const RELEASE = "guard";
export const RELEASE_NAMESPACE = "stsguard-system";
/** The API server version of shared/k8s; the chart renders what it would install there. */
const KUBE_VERSION = "1.26.4";

/** Renders the chart with its default values; returns the objects. */
export function renderChart(root) {
  const helm = execFileSync(process.execPath, [join(root, "scripts/install-tool.mjs"), "helm"], {
    encoding: "utf8",
  }).trim();
  const text = execFileSync(
    helm,
    [
      "template",
      RELEASE,
      join(root, "charts/stsguard"),
      "--namespace",
      RELEASE_NAMESPACE,
      "--kube-version",
      KUBE_VERSION,
    ],
    { encoding: "utf8" },
  );
  return parseAllDocuments(text)
    .map((doc) => doc.toJS())
    .filter((object) => object && typeof object === "object" && object.kind);
}

function one(objects, kind) {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`the chart rendered ${found.length} ${kind} objects`);
  return found[0];
}

/**
 * The webhook container of the chart's Deployment: its args, its environment as a plain map,
 * the memory limit, and the configuration file the ConfigMap mounts.
 */
export function webhookContainer(objects) {
  const deployment = one(objects, "Deployment");
  const container = deployment.spec.template.spec.containers.find((c) => c.name === "stsguard");
  if (!container) throw new Error("the chart's Deployment has no stsguard container");
  const env = {};
  for (const { name, value } of container.env ?? []) {
    if (typeof value !== "string") throw new Error(`env ${name} is not a plain value`);
    env[name] = value;
  }
  const configMap = objects.find((o) => o.kind === "ConfigMap" && o.data?.["config.yaml"]);
  return {
    args: container.args,
    env,
    memoryLimit: container.resources?.limits?.memory,
    configYaml: configMap?.data["config.yaml"] ?? null,
  };
}

/**
 * The container's args with the pod's paths and ports replaced by the benchmark's: the flags
 * and values the chart sets stay as they are.
 */
export function localArgs(args, replacements) {
  const out = [...args];
  for (const [flag, value] of Object.entries(replacements)) {
    const at = out.indexOf(flag);
    if (at === -1) throw new Error(`the chart's webhook args have no ${flag}`);
    out[at + 1] = value;
  }
  return out;
}

/** The chart's ClusterRole and ClusterRoleBinding and its ServiceAccount. */
export function rbacObjects(objects) {
  return objects.filter((o) =>
    ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"].includes(o.kind),
  );
}

/**
 * The chart's Mutating- and ValidatingWebhookConfiguration, renamed with `suffix`, every webhook
 * pointed at `baseUrl` + its path with `caPem`, and its namespaceSelector narrowed to namespaces
 * labelled `label` = `value`: the benchmark registers the same configuration for stsguard and
 * for the bare webhook, each for its own namespaces.
 */
export function webhookConfigurations(objects, { suffix, baseUrl, caPem, label, value }) {
  return objects
    .filter(
      (o) =>
        o.kind === "MutatingWebhookConfiguration" || o.kind === "ValidatingWebhookConfiguration",
    )
    .map((configuration) => {
      const metadata = {
        ...configuration.metadata,
        name: `${configuration.metadata.name}-${suffix}`,
      };
      // cert-manager's CA injection has no cert-manager to act on here.
      delete metadata.annotations;
      return {
        ...configuration,
        metadata,
        webhooks: configuration.webhooks.map((webhook) => ({
          ...webhook,
          name: `${suffix}.${webhook.name}`,
          clientConfig: {
            url: `${baseUrl}${webhook.clientConfig.service?.path ?? "/"}`,
            caBundle: Buffer.from(caPem).toString("base64"),
          },
          namespaceSelector: {
            ...webhook.namespaceSelector,
            matchExpressions: [
              ...(webhook.namespaceSelector?.matchExpressions ?? []),
              { key: label, operator: "In", values: [value] },
            ],
          },
        })),
      };
    });
}

/** `FROM node:<version>` of the Dockerfile's runtime stage: the Node the image runs. */
export function imageNodeVersion(root) {
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
  const froms = [...dockerfile.matchAll(/^FROM node:(\d+\.\d+\.\d+)/gm)].map((m) => m[1]);
  if (froms.length === 0) throw new Error("the Dockerfile has no FROM node:<x.y.z>");
  return froms.at(-1);
}
