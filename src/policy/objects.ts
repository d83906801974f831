import { parsePodTarget } from "./pod-target.js";
import { hasOwn, isJsonMap, readCount, readMap, readString, readStringMap } from "./raw-object.js";
import {
  POD_NAME_LABEL,
  type KubeVersion,
  type PerPodServiceSummary,
  type ServiceSummary,
  type StatefulSetSummary,
} from "./types.js";

/**
 * The pod-name selector entry of a per-pod Service, or null when the object is not one:
 * not a Service map, type ExternalName (its selector is ignored), or no pod-name key.
 */
export function readPodNameSelector(service: unknown): { value: unknown } | null {
  const spec = readMap(service, "spec");
  if (!spec || spec["type"] === "ExternalName") return null;
  const selector = spec["selector"];
  if (!isJsonMap(selector) || !hasOwn(selector, POD_NAME_LABEL)) return null;
  return { value: selector[POD_NAME_LABEL] };
}

/** The only StatefulSet version Kubernetes serves since 1.16 (apps/v1beta1 and v1beta2 were removed). */
export const STATEFULSET_API_VERSION = "apps/v1";

/**
 * A StatefulSet in any version of group `apps`: old charts still carry apps/v1beta1 and
 * apps/v1beta2, and their per-pod Services are judged against them all the same (the version
 * itself is `removed-api-version`'s business). StatefulSet never lived in another group.
 */
export function isStatefulSet(obj: unknown): boolean {
  return (
    readString(obj, "kind") === "StatefulSet" &&
    (readString(obj, "apiVersion") ?? "").startsWith("apps/")
  );
}

/** What the rules need of a StatefulSet, with the API server's defaults; null if it is not one. */
export function summarizeStatefulSet(
  obj: unknown,
  defaultNamespace: string,
): StatefulSetSummary | null {
  if (!isStatefulSet(obj)) return null;
  const metadata = readMap(obj, "metadata");
  const name = readString(metadata, "name");
  if (!name) return null;
  const spec = readMap(obj, "spec");
  const replicasUnset = spec?.["replicas"] === undefined || spec["replicas"] === null;
  return {
    namespace: readString(metadata, "namespace") || defaultNamespace,
    name,
    replicas: readCount(spec, "replicas", 1),
    ...(replicasUnset ? { replicasUnset } : {}),
    start: readCount(readMap(spec, "ordinals"), "start", 0),
    podLabels: readStringMap(readMap(readMap(spec, "template"), "metadata")?.["labels"]),
    labels: readStringMap(metadata?.["labels"]),
    serviceName: readString(spec, "serviceName") ?? "",
  };
}

/** What `governing-service` needs of any core Service; null if it is not one or has no name. */
export function summarizeService(obj: unknown, defaultNamespace: string): ServiceSummary | null {
  if (readString(obj, "kind") !== "Service" || readString(obj, "apiVersion") !== "v1") return null;
  const metadata = readMap(obj, "metadata");
  const name = readString(metadata, "name");
  if (!name) return null;
  const spec = readMap(obj, "spec");
  return {
    namespace: readString(metadata, "namespace") || defaultNamespace,
    name,
    headless: readString(spec, "clusterIP") === "None",
    selector: readStringMap(spec?.["selector"]),
  };
}

/**
 * The StatefulSet as it will be after a scale to `replicas` (a Scale carries no ordinals); its
 * autoscaler, if any, stays.
 */
export function withReplicas(sts: StatefulSetSummary, replicas: number): StatefulSetSummary {
  return sts.replicasUnset ? { ...sts, replicas, replicasUnset: false } : { ...sts, replicas };
}

/** The per-pod Service summary for `orphaned-service`; null if not a per-pod Service or malformed. */
export function summarizePerPodService(
  obj: unknown,
  defaultNamespace: string,
): PerPodServiceSummary | null {
  if (readString(obj, "kind") !== "Service") return null;
  const selector = readPodNameSelector(obj);
  const target = selector ? parsePodTarget(selector.value) : null;
  const metadata = readMap(obj, "metadata");
  const name = readString(metadata, "name");
  if (!target || !name) return null;
  return { namespace: readString(metadata, "namespace") || defaultNamespace, name, target };
}

export function supportsExternalIPsPolicy(kubeVersion: KubeVersion): boolean {
  return kubeVersion.major > 1 || (kubeVersion.major === 1 && kubeVersion.minor >= 29);
}

/**
 * Kubernetes accepts `externalTrafficPolicy` only on externally accessible Services:
 * LoadBalancer, NodePort, and from 1.29 on ClusterIP (or no type) with externalIPs.
 */
export function isExternallyAccessible(service: unknown, kubeVersion: KubeVersion): boolean {
  const spec = readMap(service, "spec");
  const type = readString(spec, "type") ?? "ClusterIP";
  if (type === "LoadBalancer" || type === "NodePort") return true;
  const externalIPs = spec?.["externalIPs"];
  return (
    type === "ClusterIP" &&
    Array.isArray(externalIPs) &&
    externalIPs.length > 0 &&
    supportsExternalIPsPolicy(kubeVersion)
  );
}
