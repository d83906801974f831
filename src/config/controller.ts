/**
 * `controller:` in the configuration: what the platform team lets the per-pod Service controller
 * do on behalf of whoever annotates a StatefulSet. Read at every reconcile, so a reload applies at
 * once. Defaults are the safe end: every namespace, both Service types, no copied annotation keys,
 * at most 64 Services per StatefulSet.
 */
import { ConfigError } from "../errors.js";
import type { LabelSelector } from "../guardrails/types.js";
import { SERVICE_TYPES, type PerPodServiceType } from "../manifests/per-pod-services.js";
import { isJsonMap } from "../policy/raw-object.js";
import { optionalMap, optionalStringList, rejectUnknownKeys } from "./fields.js";
import { parseSelector } from "./guardrails.js";

export interface ControllerLimits {
  /** Namespaces (names or globs) where the controller may write; every one by default. */
  readonly namespaces: readonly string[];
  /** And, when set, only those whose labels match. */
  readonly namespaceSelector: LabelSelector | null;
  /** Service types the controller may make. */
  readonly serviceTypes: readonly PerPodServiceType[];
  /** Keys (names or globs) `expose-service-annotations` may copy; none by default. */
  readonly serviceAnnotations: readonly string[];
  /** The most Services one StatefulSet may ask for (its replicas). */
  readonly maxServicesPerStatefulSet: number;
}

export const DEFAULT_MAX_SERVICES_PER_STATEFULSET = 64;
/** Above this the limit protects nothing: the LoadBalancers alone would be the incident. */
export const MAX_SERVICES_PER_STATEFULSET_CEILING = 10_000;

export const DEFAULT_CONTROLLER_LIMITS: ControllerLimits = Object.freeze({
  namespaces: Object.freeze(["*"]),
  namespaceSelector: null,
  serviceTypes: Object.freeze([...SERVICE_TYPES]),
  serviceAnnotations: Object.freeze([]),
  maxServicesPerStatefulSet: DEFAULT_MAX_SERVICES_PER_STATEFULSET,
});

const CONTROLLER_KEYS = [
  "namespaces",
  "namespaceSelector",
  "serviceTypes",
  "serviceAnnotations",
  "maxServicesPerStatefulSet",
];

export function parseControllerLimits(value: unknown, where: string): ControllerLimits {
  if (value === undefined || value === null) return DEFAULT_CONTROLLER_LIMITS;
  const map = optionalMap(value, where);
  rejectUnknownKeys(map, CONTROLLER_KEYS, where);
  const namespaces = optionalStringList(map["namespaces"], `${where}.namespaces`);
  const types = optionalStringList(map["serviceTypes"], `${where}.serviceTypes`);
  for (const type of types ?? []) {
    if (!(SERVICE_TYPES as readonly string[]).includes(type)) {
      throw new ConfigError(
        `${where}.serviceTypes: "${type}" is not a type the controller makes (${SERVICE_TYPES.join(", ")})`,
      );
    }
  }
  const max = map["maxServicesPerStatefulSet"];
  if (
    max !== undefined &&
    max !== null &&
    (typeof max !== "number" ||
      !Number.isInteger(max) ||
      max < 1 ||
      max > MAX_SERVICES_PER_STATEFULSET_CEILING)
  ) {
    throw new ConfigError(
      `${where}.maxServicesPerStatefulSet: must be a whole number from 1 to ${MAX_SERVICES_PER_STATEFULSET_CEILING}, not ${JSON.stringify(max)}`,
    );
  }
  const selector = map["namespaceSelector"];
  return {
    namespaces: namespaces ?? DEFAULT_CONTROLLER_LIMITS.namespaces,
    namespaceSelector:
      selector === undefined ||
      selector === null ||
      (isJsonMap(selector) && Object.keys(selector).length === 0)
        ? null
        : parseSelector(selector, `${where}.namespaceSelector`),
    serviceTypes: (types as PerPodServiceType[] | null) ?? DEFAULT_CONTROLLER_LIMITS.serviceTypes,
    serviceAnnotations:
      optionalStringList(map["serviceAnnotations"], `${where}.serviceAnnotations`) ?? [],
    maxServicesPerStatefulSet: typeof max === "number" ? max : DEFAULT_MAX_SERVICES_PER_STATEFULSET,
  };
}
