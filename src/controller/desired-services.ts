/**
 * The Services the controller keeps for one StatefulSet: exactly what `stsguard generate` prints
 * (so they pass admission by construction), plus what makes them the controller's own: an
 * ownerReference to the StatefulSet (the garbage collector removes them with it) and the
 * managed-by label. Pure: no I/O.
 */
import { GenerateError, generatePerPodServices } from "../manifests/per-pod-services.js";
import type { PolicyConfig } from "../policy/index.js";
import { readMap, readString } from "../policy/raw-object.js";
import { exposeAnnotationKeys, readExposeDecision } from "./expose.js";

/** The field manager of every server-side apply, and the value of the managed-by label. */
export const FIELD_MANAGER = "stsguard-controller";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";

export type ApplyConfiguration = Record<string, unknown>;

export type DesiredServices =
  | { readonly kind: "off" }
  | { readonly kind: "services"; readonly services: readonly ApplyConfiguration[] }
  | { readonly kind: "invalid"; readonly problems: readonly string[] };

/** What the StatefulSet's annotations ask for; `statefulSet` is a raw apps/v1 StatefulSet. */
export function buildDesiredServices(statefulSet: unknown, policy: PolicyConfig): DesiredServices {
  const decision = readExposeDecision(statefulSet, policy.labelPrefix);
  if (decision.kind !== "on") return decision;
  const metadata = readMap(statefulSet, "metadata");
  const name = readString(metadata, "name");
  const namespace = readString(metadata, "namespace");
  const uid = readString(metadata, "uid");
  if (!name || !namespace || !uid) {
    return { kind: "invalid", problems: ["the StatefulSet has no name, namespace or uid"] };
  }
  const { request } = decision;
  let generated: Record<string, unknown>[] | null;
  try {
    generated = generatePerPodServices(statefulSet, {
      type: request.type,
      ports: request.ports,
      policy,
      defaultNamespace: namespace,
      portsFrom: `annotation ${exposeAnnotationKeys(policy.labelPrefix).ports}`,
    });
  } catch (error: unknown) {
    if (error instanceof GenerateError) return { kind: "invalid", problems: [error.message] };
    throw error;
  }
  if (!generated) return { kind: "invalid", problems: ["not an apps/v1 StatefulSet"] };
  const ownerReference = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  const services = generated.map((service) => {
    const serviceMetadata = readMap(service, "metadata") ?? {};
    const labels = readMap(serviceMetadata, "labels") ?? {};
    const hasAnnotations = Object.keys(request.serviceAnnotations).length > 0;
    return {
      ...service,
      metadata: {
        ...serviceMetadata,
        // The required labels come last: a configured extra label cannot override them.
        labels: { [MANAGED_BY_LABEL]: FIELD_MANAGER, ...labels },
        ...(hasAnnotations ? { annotations: { ...request.serviceAnnotations } } : {}),
        ownerReferences: [{ ...ownerReference }],
      },
    };
  });
  return { kind: "services", services };
}
