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

export function headlessService(namespace: string, name: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { clusterIP: "None", selector: { app: name }, ports: [{ port: 80 }] },
  };
}

/**
 * The cluster's objects: 100 StatefulSets and 401 Services, with the findings above (ns-1/app-0
 * scaled to 1, ns-3/app-1 without its headless Service, lonely-0 and ns-4/app-2-0 as described).
 */
export function auditClusterObjects(): {
  statefulSets: Record<string, unknown>[];
  services: Record<string, unknown>[];
} {
  const statefulSets: Record<string, unknown>[] = [];
  const services: Record<string, unknown>[] = [];
  for (const namespace of NAMESPACES) {
    for (let i = 0; i < STATEFULSETS_PER_NAMESPACE; i++) {
      const name = `app-${i}`;
      const scaledDown = namespace === "ns-1" && name === "app-0";
      statefulSets.push(statefulSet(namespace, name, scaledDown ? 1 : 3));
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
  return { statefulSets, services };
}

/** Seeds the test API server with auditClusterObjects(). */
export function seedAuditCluster(server: FakeApiServer): void {
  const { statefulSets, services } = auditClusterObjects();
  for (const sts of statefulSets) server.apply("statefulsets", sts);
  for (const service of services) server.apply("services", service);
}

/** Per-pod Services in the seeded cluster: 3 per StatefulSet, plus lonely-0. */
export const PER_POD_SERVICES = NAMESPACES.length * STATEFULSETS_PER_NAMESPACE * 3 + 1;
export const STATEFULSETS = NAMESPACES.length * STATEFULSETS_PER_NAMESPACE;
