/**
 * A real cluster holding a mix of good and bad per-pod Services and StatefulSets, for
 * `stsguard audit`, and the built CLI run as the chart's audit CronJob runs it: with the
 * CronJob's ServiceAccount (its RBAC applied from the chart) and the chart's configuration file.
 * No webhook is registered: the bad objects are what a cluster holds from before stsguard, or
 * from a scale-down.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import type { Values } from "../../chart/helm.js";
import { RELEASE, installRbac, renderFor126 } from "./chart.js";
import type { Cluster, CommandResult } from "./cluster.js";
import {
  goodService,
  headlessService,
  horizontalPodAutoscaler,
  perPodService,
  requiredLabels,
  statefulSet,
  type Json,
} from "./objects.js";
import { makeWorkDir, runCli } from "./stsguard.js";

/** The ServiceAccount of the chart's audit CronJob (`<release>-stsguard-audit`). */
export const AUDIT_SERVICE_ACCOUNT = `${RELEASE}-stsguard-audit`;

/** The exemption the audit configuration grants: out-of-range Services in namespace legacy. */
export const AUDIT_CONFIG: Json = {
  exemptions: [
    {
      name: "lb-migration",
      reason: "PLAT-9, load balancers move next sprint",
      expires: "2099-01-01T00:00:00Z",
      namespaces: ["legacy"],
      rules: ["ordinal-out-of-range"],
    },
  ],
};

/** Chart values: the audit CronJob on, with the configuration above. */
export function auditValues(reportApi: "wgpolicyk8s" | "openreports" = "wgpolicyk8s"): Values {
  return { audit: { enabled: true, reportApi }, config: AUDIT_CONFIG };
}

export interface AuditRunner {
  /** The audit ServiceAccount's kubeconfig. */
  readonly kubeconfig: string;
  /** The chart's rendered config.yaml (from its ConfigMap), as the CronJob mounts it. */
  readonly configFile: string;
  /** `stsguard audit --kubeconfig K --config C <args>`. */
  audit(...args: string[]): Promise<CommandResult>;
}

/** Applies the chart's RBAC (audit on) and writes its configuration; returns the runner. */
export async function installAudit(cluster: Cluster, values: Values): Promise<AuditRunner> {
  const kubeconfig = await installRbac(cluster, values, AUDIT_SERVICE_ACCOUNT);
  const configMap = renderFor126(values).find((object) => object.kind === "ConfigMap");
  const text = (configMap?.["data"] as Record<string, string> | undefined)?.["config.yaml"];
  if (text === undefined) throw new Error("the chart rendered no config.yaml");
  // The chart renders exactly the configuration it was given.
  if (!isDeepStrictEqual((parse(text) as Json)["exemptions"], AUDIT_CONFIG["exemptions"])) {
    throw new Error(`the chart's config.yaml lacks the audit exemptions:\n${text}`);
  }
  const configFile = path.join(await makeWorkDir("audit"), "config.yaml");
  writeFileSync(configFile, text);
  return {
    kubeconfig,
    configFile,
    audit: (...args) =>
      runCli(["audit", "--kubeconfig", kubeconfig, "--config", configFile, ...args]),
  };
}

/**
 * What the cluster holds, by namespace:
 * - `clean`: StatefulSet web (3 pods) with its headless Service and three compliant per-pod
 *   Services; redis-2 (a name ending in digits) and db (ordinals.start 5) likewise.
 * - `scaled`: kafka scaled from 3 to 1 after its per-pod Services were made: kafka-1 and
 *   kafka-2 select pods that are gone.
 * - `exposed`: shop's per-pod Services gone wrong: shop-0 a LoadBalancer with
 *   externalTrafficPolicy Cluster, shop-1 without the labels, shop-2 selecting a label the pods
 *   lack, shop-x a pod name with a leading zero.
 * - `loose`: a per-pod Service without its StatefulSet, and a StatefulSet without a governing
 *   Service.
 * - `legacy`: an out-of-range per-pod Service the configuration exempts.
 */
export async function seedAuditCluster(cluster: Cluster): Promise<void> {
  const namespaces = ["clean", "scaled", "exposed", "loose", "legacy"];
  await cluster.apply(
    namespaces.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })),
  );
  await cluster.apply([
    headlessService("clean", "web"),
    statefulSet("clean", "web", { replicas: 3 }),
    goodService("clean", "web", 0),
    goodService("clean", "web", 1),
    goodService("clean", "web", 2),
    headlessService("clean", "redis-2"),
    statefulSet("clean", "redis-2", { replicas: 2 }),
    goodService("clean", "redis-2", 0),
    goodService("clean", "redis-2", 1),
    headlessService("clean", "db"),
    statefulSet("clean", "db", { replicas: 2, start: 5 }),
    goodService("clean", "db", 5),
    goodService("clean", "db", 6),

    headlessService("scaled", "kafka"),
    statefulSet("scaled", "kafka", { replicas: 1 }),
    goodService("scaled", "kafka", 0),
    goodService("scaled", "kafka", 1),
    goodService("scaled", "kafka", 2),

    headlessService("exposed", "shop"),
    statefulSet("exposed", "shop", { replicas: 3 }),
    perPodService("exposed", "shop-0", {
      type: "LoadBalancer",
      externalTrafficPolicy: "Cluster",
      labels: requiredLabels("shop", 0),
    }),
    perPodService("exposed", "shop-1", { type: "NodePort", externalTrafficPolicy: "Local" }),
    perPodService("exposed", "shop-2", {
      labels: requiredLabels("shop", 2),
      extraSelector: { tier: "front" },
    }),
    perPodService("exposed", "shop-x", { pod: "shop-01" }),

    perPodService("loose", "lonely-0", { labels: requiredLabels("lonely", 0) }),
    statefulSet("loose", "orders", { replicas: 1 }),

    headlessService("legacy", "web"),
    statefulSet("legacy", "web", { replicas: 1 }),
    goodService("legacy", "web", 0),
    goodService("legacy", "web", 4),
  ]);
}

/**
 * Namespace `autoscaled`: StatefulSets whose HorizontalPodAutoscalers widen (or do not widen)
 * the ordinals they may have, each with its headless Service and compliant per-pod Services for
 * ordinals 0–2 (no HPA controller runs, so the replicas stay as written):
 * - broker at 1 replica, its HPA 1–3: nothing, the HPA may scale it out to 3 again.
 * - search at 1 replica, its HPA 1–2: search-2 lies beyond maxReplicas.
 * - api at 2 replicas, beside an HPA api of a Deployment: that HPA widens nothing, api-2 is out.
 */
export async function seedAutoscaled(cluster: Cluster): Promise<void> {
  const ns = "autoscaled";
  await cluster.createNamespace(ns);
  const withServices = (name: string, replicas: number): Json[] => [
    headlessService(ns, name),
    statefulSet(ns, name, { replicas }),
    goodService(ns, name, 0),
    goodService(ns, name, 1),
    goodService(ns, name, 2),
  ];
  await cluster.apply([
    ...withServices("broker", 1),
    horizontalPodAutoscaler(ns, "broker", { min: 1, max: 3 }),
    ...withServices("search", 1),
    horizontalPodAutoscaler(ns, "search", { min: 1, max: 2 }),
    ...withServices("api", 2),
    horizontalPodAutoscaler(ns, "api", { min: 1, max: 3, targetKind: "Deployment" }),
  ]);
}
