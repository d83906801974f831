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

/** Seeds the cluster: 100 StatefulSets and 401 Services, with the findings above. */
export function seedAuditCluster(server: FakeApiServer): void {
  for (const namespace of NAMESPACES) {
    for (let i = 0; i < STATEFULSETS_PER_NAMESPACE; i++) {
      const name = `app-${i}`;
      server.apply("statefulsets", statefulSet(namespace, name, 3));
      server.apply("services", headlessService(namespace, name));
      for (let ordinal = 0; ordinal < 3; ordinal++) {
        server.apply("services", perPodService(namespace, `${name}-${ordinal}`));
      }
    }
  }
  server.update("statefulsets", "ns-1", "app-0", (sts) => {
    (sts["spec"] as Record<string, unknown>)["replicas"] = 1;
  });
  server.apply("services", perPodService("ns-2", "lonely-0"));
  for (const [namespace, name, max] of [
    ["ns-5", "app-3", 3],
    ["ns-6", "app-4", 2],
  ] as const) {
    server.update("statefulsets", namespace, name, (sts) => {
      (sts["spec"] as Record<string, unknown>)["replicas"] = 1;
    });
    server.apply("horizontalpodautoscalers", hpa(namespace, name, "StatefulSet", max));
  }
  // An HPA of a Deployment of the same name as a StatefulSet widens nothing.
  server.update("statefulsets", "ns-7", "app-5", (sts) => {
    (sts["spec"] as Record<string, unknown>)["replicas"] = 2;
  });
  server.apply("horizontalpodautoscalers", hpa("ns-7", "app-5", "Deployment", 3));
  server.remove("services", "ns-3", "app-1");
  server.apply(
    "services",
    perPodService("ns-4", "app-2-0", { type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
  );
}

/** Per-pod Services in the seeded cluster: 3 per StatefulSet, plus lonely-0. */
export const PER_POD_SERVICES = NAMESPACES.length * STATEFULSETS_PER_NAMESPACE * 3 + 1;
export const STATEFULSETS = NAMESPACES.length * STATEFULSETS_PER_NAMESPACE;
