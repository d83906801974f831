/**
 * Which subject an AdmissionRequest is (a per-pod Service, a StatefulSet, a StatefulSet's scale,
 * or nothing stsguard judges), and the namespace and name it is about. Cheap reads only.
 */
import { readPodNameSelector } from "../policy/index.js";
import { readMap, readString } from "../policy/raw-object.js";
import type { AdmissionRequest, AdmissionSubject } from "./types.js";

/** Cheap checks only: most requests end here as `ignored`. */
export function classifyRequest(request: AdmissionRequest): AdmissionSubject {
  const { kind, operation, subResource } = request;
  if (operation !== "CREATE" && operation !== "UPDATE") return "ignored";
  if (subResource === null) {
    if (kind.group === "" && kind.kind === "Service") {
      return readPodNameSelector(request.object) ? "service" : "ignored";
    }
    if (kind.group === "apps" && kind.kind === "StatefulSet") return "statefulset";
    return "ignored";
  }
  const isStatefulSetScale =
    subResource === "scale" &&
    operation === "UPDATE" &&
    kind.group === "autoscaling" &&
    kind.kind === "Scale" &&
    request.resource?.group === "apps" &&
    request.resource.resource === "statefulsets";
  return isStatefulSetScale ? "scale" : "ignored";
}

export function namespaceOf(request: AdmissionRequest): string {
  return (
    request.namespace ||
    readString(readMap(request.object, "metadata"), "namespace") ||
    readString(readMap(request.oldObject, "metadata"), "namespace") ||
    "default"
  );
}

export function nameOf(request: AdmissionRequest): string {
  const metadata = readMap(request.object, "metadata");
  return (
    request.name ||
    readString(metadata, "name") ||
    readString(metadata, "generateName") ||
    "<unnamed>"
  );
}
