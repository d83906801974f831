/**
 * The opt-in annotations of a StatefulSet, read without I/O:
 *
 *   <prefix>/expose: LoadBalancer | NodePort          turns the controller on for it
 *   <prefix>/expose-ports: kafka,9092                 container ports, by name or number (optional)
 *   <prefix>/expose-service-annotations: |            a JSON or YAML map of strings (optional)
 *     service.beta.kubernetes.io/aws-load-balancer-type: nlb
 */
import { parse as parseYaml } from "yaml";
import { SERVICE_TYPES, type PerPodServiceType } from "../manifests/per-pod-services.js";
import { isJsonMap, readMap, readStringMap } from "../policy/raw-object.js";

export interface ExposeAnnotationKeys {
  readonly expose: string;
  readonly ports: string;
  readonly serviceAnnotations: string;
}

export function exposeAnnotationKeys(labelPrefix: string): ExposeAnnotationKeys {
  return {
    expose: `${labelPrefix}/expose`,
    ports: `${labelPrefix}/expose-ports`,
    serviceAnnotations: `${labelPrefix}/expose-service-annotations`,
  };
}

export interface ExposeRequest {
  readonly type: PerPodServiceType;
  /** Container ports by name or number; every port of the pod template when empty. */
  readonly ports: readonly string[];
  /** Copied onto every Service (cloud load-balancer settings). */
  readonly serviceAnnotations: Readonly<Record<string, string>>;
}

export type ExposeDecision =
  /** No `<prefix>/expose` annotation: the controller keeps no Services for this StatefulSet. */
  | { readonly kind: "off" }
  | { readonly kind: "on"; readonly request: ExposeRequest }
  /** An annotation is there but wrong; each problem names the annotation and what is wrong. */
  | { readonly kind: "invalid"; readonly problems: readonly string[] };

// DNS-1123 subdomain prefix (optional) and a name part, as Kubernetes requires of annotation keys.
const ANNOTATION_KEY =
  /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PORT_NAME = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

/** What the annotations of `statefulSet` ask for. */
export function readExposeDecision(statefulSet: unknown, labelPrefix: string): ExposeDecision {
  const keys = exposeAnnotationKeys(labelPrefix);
  const annotations = readStringMap(readMap(statefulSet, "metadata")?.["annotations"]);
  const type = annotations[keys.expose];
  if (type === undefined) return { kind: "off" };
  const problems: string[] = [];
  if (!(SERVICE_TYPES as readonly string[]).includes(type.trim())) {
    problems.push(
      `annotation ${keys.expose}: "${type}" is not a Service type the controller writes ` +
        `(${SERVICE_TYPES.join(" or ")})`,
    );
  }
  const ports = readPorts(annotations[keys.ports], keys.ports, problems);
  const serviceAnnotations = readServiceAnnotations(
    annotations[keys.serviceAnnotations],
    keys.serviceAnnotations,
    problems,
  );
  if (problems.length > 0) return { kind: "invalid", problems };
  return {
    kind: "on",
    request: { type: type.trim() as PerPodServiceType, ports, serviceAnnotations },
  };
}

/** `kafka, 9092` → ["kafka", "9092"]; each a port name (IANA_SVC_NAME) or a number 1-65535. */
function readPorts(text: string | undefined, key: string, problems: string[]): string[] {
  if (text === undefined || text.trim() === "") return [];
  const ports = text.split(",").map((part) => part.trim());
  for (const port of ports) {
    const number = /^\d+$/.test(port) ? Number(port) : Number.NaN;
    const isNumber = Number.isInteger(number) && number >= 1 && number <= 65535;
    if (!isNumber && !(PORT_NAME.test(port) && port.length <= 15 && /[a-z]/.test(port))) {
      problems.push(
        `annotation ${key}: "${port}" is not a port name or number (write e.g. "kafka,9092")`,
      );
    }
  }
  return ports;
}

function readServiceAnnotations(
  text: string | undefined,
  key: string,
  problems: string[],
): Record<string, string> {
  if (text === undefined || text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = parseYaml(text) as unknown;
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    problems.push(`annotation ${key}: not JSON or YAML: ${reason ?? ""}`);
    return {};
  }
  if (!isJsonMap(parsed)) {
    problems.push(`annotation ${key}: must be a map of annotation keys to strings`);
    return {};
  }
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!ANNOTATION_KEY.test(name) || name.length > 316) {
      problems.push(`annotation ${key}: "${name}" is not a valid annotation key`);
    } else if (typeof value !== "string") {
      problems.push(
        `annotation ${key}: the value of "${name}" must be a string (quote it: "${String(value)}")`,
      );
    } else {
      result[name] = value;
    }
  }
  return result;
}
