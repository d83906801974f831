/**
 * Builders for the objects the e2e suite writes through kubectl: StatefulSets (pause containers,
 * never run: the control plane has no kubelet), per-pod Services, headless governing Services,
 * HorizontalPodAutoscalers.
 * Each call returns a fresh object.
 */
export const POD_NAME = "statefulset.kubernetes.io/pod-name";

export type Json = Record<string, unknown>;

export interface StatefulSetOptions {
  /** Omitted: spec.replicas unset (1). */
  readonly replicas?: number;
  /** spec.ordinals.start. */
  readonly start?: number;
  /** Pod template labels; default `{app: <name>}`. */
  readonly podLabels?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly serviceName?: string;
}

export function statefulSet(
  namespace: string,
  name: string,
  options: StatefulSetOptions = {},
): Json {
  const podLabels = options.podLabels ?? { app: name };
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, namespace, ...(options.labels ? { labels: options.labels } : {}) },
    spec: {
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
      ...(options.start === undefined ? {} : { ordinals: { start: options.start } }),
      serviceName: options.serviceName ?? name,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: {
          containers: [
            {
              name: "app",
              image: "registry.k8s.io/pause:3.9",
              ports: [{ name: "http", containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
}

export interface ServiceOptions {
  /** spec.type; omitted: none (ClusterIP). */
  readonly type?: "LoadBalancer" | "NodePort" | "ClusterIP";
  readonly externalTrafficPolicy?: "Local" | "Cluster";
  /** metadata.labels; omitted: none. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Selector entries beside the pod name. */
  readonly extraSelector?: Readonly<Record<string, string>>;
  /** The pod the Service selects; default: its own name. */
  readonly pod?: string;
  readonly port?: number;
}

export function perPodService(namespace: string, name: string, options: ServiceOptions = {}): Json {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace, ...(options.labels ? { labels: options.labels } : {}) },
    spec: {
      ...(options.type ? { type: options.type } : {}),
      ...(options.externalTrafficPolicy
        ? { externalTrafficPolicy: options.externalTrafficPolicy }
        : {}),
      selector: { ...options.extraSelector, [POD_NAME]: options.pod ?? name },
      ports: [{ name: "http", port: options.port ?? 80, targetPort: "http" }],
    },
  };
}

/** The labels stsguard requires on the per-pod Service of `<sts>-<ordinal>`. */
export function requiredLabels(statefulSetName: string, ordinal: number): Record<string, string> {
  return { "stsguard.io/statefulset": statefulSetName, "stsguard.io/ordinal": String(ordinal) };
}

/** A compliant per-pod Service: LoadBalancer, Local, the required labels. */
export function goodService(namespace: string, statefulSetName: string, ordinal: number): Json {
  return perPodService(namespace, `${statefulSetName}-${ordinal}`, {
    type: "LoadBalancer",
    externalTrafficPolicy: "Local",
    labels: requiredLabels(statefulSetName, ordinal),
  });
}

/** The headless Service a StatefulSet's serviceName names, selecting its pods. */
export function headlessService(
  namespace: string,
  name: string,
  selector: Readonly<Record<string, string>> = { app: name },
): Json {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { clusterIP: "None", selector, ports: [{ name: "http", port: 8080 }] },
  };
}

export interface AutoscalerOptions {
  readonly min: number;
  readonly max: number;
  /** The kind scaleTargetRef names (apps/v1); default StatefulSet. */
  readonly targetKind?: "StatefulSet" | "Deployment";
  /** The name scaleTargetRef names; default the HPA's own name. */
  readonly target?: string;
}

/** A HorizontalPodAutoscaler (autoscaling/v2) with a CPU target, as charts render them. */
export function horizontalPodAutoscaler(
  namespace: string,
  name: string,
  options: AutoscalerOptions,
): Json {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, namespace },
    spec: {
      scaleTargetRef: {
        apiVersion: "apps/v1",
        kind: options.targetKind ?? "StatefulSet",
        name: options.target ?? name,
      },
      minReplicas: options.min,
      maxReplicas: options.max,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ],
    },
  };
}

export function namespace(name: string, labels: Readonly<Record<string, string>> = {}): Json {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** kubectl's `Warning: ...` lines on standard error, without the prefix, in order. */
export function warningsOf(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("Warning: "))
    .map((line) => line.slice("Warning: ".length));
}

/** Standard error without kubectl's warning lines (the error kubectl printed, if any). */
export function errorsOf(stderr: string): string {
  return stderr
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("Warning: "))
    .join("\n");
}
