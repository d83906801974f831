import { possibleOrdinals, type StatefulSetSummary } from "../policy/index.js";

export interface DemoTarget {
  readonly namespace: string;
  readonly statefulSet: string;
  /** One past the last ordinal: a pod that does not exist. */
  readonly ordinal: number;
}

/** The demo target for a StatefulSet: the first ordinal past the ordinals it may have. */
export function toDemoTarget(sts: StatefulSetSummary | undefined): DemoTarget {
  if (!sts) return { namespace: "default", statefulSet: "web", ordinal: 3 };
  return { namespace: sts.namespace, statefulSet: sts.name, ordinal: possibleOrdinals(sts).end };
}

/**
 * A CREATE of a per-pod Service for a pod that does not exist: /validate denies it with
 * `ordinal-out-of-range`. It carries the required labels and is a ClusterIP Service, so that
 * is the only rule it breaks.
 */
export function buildDemoReview(target: DemoTarget, labelPrefix: string): unknown {
  const pod = `${target.statefulSet}-${target.ordinal}`;
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: pod,
      namespace: target.namespace,
      labels: {
        [`${labelPrefix}/statefulset`]: target.statefulSet,
        [`${labelPrefix}/ordinal`]: String(target.ordinal),
      },
    },
    spec: {
      type: "ClusterIP",
      selector: { "statefulset.kubernetes.io/pod-name": pod },
      ports: [{ port: 80 }],
    },
  };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "00000000-0000-4000-8000-000000000001",
      kind: { group: "", version: "v1", kind: "Service" },
      resource: { group: "", version: "v1", resource: "services" },
      namespace: target.namespace,
      name: pod,
      operation: "CREATE",
      object: service,
    },
  };
}

/** A curl command line, ready to paste into a POSIX shell. */
export function buildCurlExample(url: string, caFile: string, review: unknown): string {
  return [
    "curl --silent --show-error",
    `--cacert ${quoteShell(caFile)}`,
    "-H 'Content-Type: application/json'",
    `--data ${quoteShell(JSON.stringify(review))}`,
    quoteShell(`${url}/validate`),
  ].join(" ");
}

function quoteShell(text: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
