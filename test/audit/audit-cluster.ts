/**
 * A cluster with a few hundred objects and known findings, for `stsguard audit`: namespaces
 * ns-0 … ns-9, each with StatefulSets app-0 … app-9 (3 replicas, a headless governing Service
 * and three correct per-pod Services each), then a handful of things gone wrong.
 */
import type { FakeApiServer } from "../helpers/fake-apiserver.js";
import { stsguardLabels } from "../helpers/objects.js";

export const NAMESPACES = Array.from({ length: 10 }, (_, i) => `ns-${i}`);
export const STATEFULSETS_PER_NAMESPACE = 10;

/** `namespace/name rule severity`, the findings the seeded cluster must give. */
export const EXPECTED_FINDINGS = [
  // ns-1/app-0 scaled from 3 to 1: two per-pod Services select pods that no longer exist.
  "ns-1/app-0-1 ordinal-out-of-range error",
  "ns-1/app-0-2 ordinal-out-of-range error",
  "ns-1/app-0 orphaned-service warning",
  "ns-1/app-0 orphaned-service warning",
  // ns-2: a per-pod Service whose StatefulSet was deleted.
  "ns-2/lonely-0 statefulset-not-found warning",
  // ns-3/app-1: its headless governing Service was deleted.
  "ns-3/app-1 governing-service warning",
  // ns-4/app-2-0: a LoadBalancer without externalTrafficPolicy: Local.
  "ns-4/app-2-0 external-traffic-policy error",
  // ns-7/app-5 at 2: the HPA of a Deployment app-5 does not count.
  "ns-7/app-5-2 ordinal-out-of-range error",
  "ns-7/app-5 orphaned-service warning",
  // ns-5/app-3 scaled in to 1 by its HPA (1–3): nothing, the HPA may scale out to 3 again.
  // ns-6/app-4 at 1, its HPA 1–2: app-4-2 lies beyond maxReplicas.
  "ns-6/app-4-2 ordinal-out-of-range error",
  "ns-6/app-4 orphaned-service warning",
].sort();

export function perPodService(
  namespace: string,
  pod: string,
  extraSpec: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: pod, namespace, labels: stsguardLabels(pod) },
    spec: {
      selector: { "statefulset.kubernetes.io/pod-name": pod },
      ports: [{ port: 80 }],
      ...extraSpec,
    },
  };
}

export function statefulSet(
  namespace: string,
  name: string,
  replicas: number,
): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, namespace },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.9" }] },
      },
    },
  };
}

function hpa(
  namespace: string,
  name: string,
  kind: string,
  maxReplicas: number,
): Record<string, unknown> {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, namespace },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind, name },
      minReplicas: 1,
      maxReplicas,
    },
  };
}

export function headlessService(namespace: string, name: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { clusterIP: "None", selector: { app: name }, ports: [{ port: 80 }] },
  };
}

/** Replicas where the audit cluster's StatefulSets do not run 3. */
const REPLICAS: Readonly<Record<string, number>> = {
  // Scaled from 3 to 1: app-0-1 and app-0-2 are left behind.
  "ns-1/app-0": 1,
  // Scaled in to 1 by their HPAs (below).
  "ns-5/app-3": 1,
  "ns-6/app-4": 1,
  // At 2; the HPA of a Deployment of the same name widens nothing.
  "ns-7/app-5": 2,
};

/**
 * The cluster's objects: 100 StatefulSets, 401 Services and 3 HorizontalPodAutoscalers, with the
 * findings above (ns-1/app-0 scaled to 1, ns-3/app-1 without its headless Service, lonely-0 and
 * ns-4/app-2-0, and the autoscaled ns-5/app-3, ns-6/app-4 and ns-7/app-5, as described).
 */
export function auditClusterObjects(): {
  statefulSets: Record<string, unknown>[];
  services: Record<string, unknown>[];
  autoscalers: Record<string, unknown>[];
} {
  const statefulSets: Record<string, unknown>[] = [];
  const services: Record<string, unknown>[] = [];
  for (const namespace of NAMESPACES) {
    for (let i = 0; i < STATEFULSETS_PER_NAMESPACE; i++) {
      const name = `app-${i}`;
      statefulSets.push(statefulSet(namespace, name, REPLICAS[`${namespace}/${name}`] ?? 3));
      if (!(namespace === "ns-3" && name === "app-1")) {
        services.push(headlessService(namespace, name));
      }
      for (let ordinal = 0; ordinal < 3; ordinal++) {
        const pod = `${name}-${ordinal}`;
        services.push(
          namespace === "ns-4" && pod === "app-2-0"
            ? perPodService(namespace, pod, {
                type: "LoadBalancer",
                externalTrafficPolicy: "Cluster",
              })
            : perPodService(namespace, pod),
        );
      }
    }
  }
  services.push(perPodService("ns-2", "lonely-0"));
  const autoscalers = [
    hpa("ns-5", "app-3", "StatefulSet", 3),
    hpa("ns-6", "app-4", "StatefulSet", 2),
    hpa("ns-7", "app-5", "Deployment", 3),
  ];
  return { statefulSets, services, autoscalers };
}

/** Seeds the test API server with auditClusterObjects(). */
export function seedAuditCluster(server: FakeApiServer): void {
  const { statefulSets, services, autoscalers } = auditClusterObjects();
  for (const sts of statefulSets) server.apply("statefulsets", sts);
  for (const service of services) server.apply("services", service);
  for (const autoscaler of autoscalers) server.apply("horizontalpodautoscalers", autoscaler);
}

/** Per-pod Services in the seeded cluster: 3 per StatefulSet, plus lonely-0. */
export const PER_POD_SERVICES = NAMESPACES.length * STATEFULSETS_PER_NAMESPACE * 3 + 1;
export const STATEFULSETS = NAMESPACES.length * STATEFULSETS_PER_NAMESPACE;
