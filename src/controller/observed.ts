/**
 * What the controller's caches keep of each object: less than the whole object (a cluster has
 * many Services), more than the webhook's summaries (annotations, ports, ownerReferences, uid).
 */
import { isStatefulSet, parsePodTarget, readPodNameSelector } from "../policy/index.js";
import {
  isJsonMap,
  readMap,
  readString,
  readStringMap,
  type JsonMap,
} from "../policy/raw-object.js";
import { approvalAnnotationKey } from "./approval.js";
import { FIELD_MANAGER } from "./desired-services.js";
import { hasUpdateEntry } from "./managed-fields.js";
import { isManagedByController, type ObservedService } from "./plan.js";

/**
 * Every Service, summarised: a name the controller wants may be taken by any Service, per-pod or
 * not, and the controller must see that before it applies.
 */
export function observeService(obj: unknown, namespace: string): ObservedService | null {
  const metadata = readMap(obj, "metadata");
  const name = readString(metadata, "name");
  const uid = readString(metadata, "uid");
  if (!name || !uid) return null;
  const selector = readPodNameSelector(obj);
  const target = selector ? parsePodTarget(selector.value) : null;
  const controllerOwner = readControllerOwner(metadata?.["ownerReferences"]);
  return {
    namespace,
    name,
    uid,
    resourceVersion: readString(metadata, "resourceVersion") ?? "",
    deleting: readString(metadata, "deletionTimestamp") !== undefined,
    controllerOwner,
    managed:
      isManagedByController(readStringMap(metadata?.["labels"])) ||
      hasOwnManager(metadata?.["managedFields"]),
    updateEntry: hasUpdateEntry(metadata?.["managedFields"]),
    target,
  };
}

/**
 * The controller's own writes are on record (its apply, or its create). This also recognises its
 * Services when a configured extra label (copied from a Helm-made StatefulSet, say) overrides the
 * managed-by label.
 */
function hasOwnManager(managedFields: unknown): boolean {
  return (
    Array.isArray(managedFields) &&
    (managedFields as unknown[]).some((entry) => readString(entry, "manager") === FIELD_MANAGER)
  );
}

function readControllerOwner(references: unknown): ObservedService["controllerOwner"] {
  if (!Array.isArray(references)) return null;
  for (const reference of references as unknown[]) {
    if (!isJsonMap(reference) || reference["controller"] !== true) continue;
    const apiVersion = readString(reference, "apiVersion");
    const kind = readString(reference, "kind");
    const name = readString(reference, "name");
    const uid = readString(reference, "uid");
    if (apiVersion && kind && name && uid) return { apiVersion, kind, name, uid };
  }
  return null;
}

/**
 * A StatefulSet cut down to what `generate` and the expose annotations read: identity, labels,
 * the `<prefix>/expose*` annotations, replicas, ordinals and the containers' ports.
 */
export function trimStatefulSet(obj: unknown, labelPrefix: string): JsonMap | null {
  if (!isStatefulSet(obj)) return null;
  const metadata = readMap(obj, "metadata");
  const spec = readMap(obj, "spec");
  const template = readMap(spec, "template");
  const containers = readMap(template, "spec")?.["containers"];
  const annotations = Object.fromEntries(
    Object.entries(readStringMap(metadata?.["annotations"])).filter(
      ([key]) =>
        key.startsWith(`${labelPrefix}/expose`) || key === approvalAnnotationKey(labelPrefix),
    ),
  );
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name: metadata?.["name"],
      namespace: metadata?.["namespace"],
      uid: metadata?.["uid"],
      resourceVersion: metadata?.["resourceVersion"],
      labels: readStringMap(metadata?.["labels"]),
      annotations,
    },
    spec: {
      replicas: spec?.["replicas"],
      ordinals: spec?.["ordinals"],
      template: {
        metadata: { labels: readStringMap(readMap(template, "metadata")?.["labels"]) },
        spec: {
          containers: Array.isArray(containers)
            ? (containers as unknown[]).map((c) => ({ ports: isJsonMap(c) ? c["ports"] : [] }))
            : [],
        },
      },
    },
  };
}
