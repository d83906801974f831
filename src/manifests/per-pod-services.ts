import {
  requiredLabels,
  summarizeStatefulSet,
  POD_NAME_LABEL,
  type PolicyConfig,
} from "../policy/index.js";
import { isJsonMap, readMap, readString } from "../policy/raw-object.js";
import { StsguardError } from "../errors.js";

export const SERVICE_TYPES = ["LoadBalancer", "NodePort"] as const;
export type PerPodServiceType = (typeof SERVICE_TYPES)[number];

export interface GenerateOptions {
  readonly type: PerPodServiceType;
  /** Container ports to expose, by number or name; all of the pod template's when empty. */
  readonly ports: readonly string[];
  readonly policy: PolicyConfig;
  readonly defaultNamespace: string;
  /** Where `ports` came from, for messages: `--port` (the default) or an annotation. */
  readonly portsFrom?: string;
  /**
   * The ordinals to build Services for, in this order; default every ordinal of the StatefulSet,
   * `[start, start + replicas)`. The controller adds those of Services it keeps for pods an
   * autoscaler scaled in.
   */
  readonly ordinals?: readonly number[];
}

export interface ContainerPort {
  readonly name: string | undefined;
  readonly containerPort: number;
  readonly protocol: string;
}

export interface ServicePort {
  name?: string;
  protocol: string;
  port: number;
  targetPort: string | number;
}

/** The request cannot be met: no ports, or a --port the pod template does not have. */
export class GenerateError extends StsguardError {
  constructor(message: string) {
    super("E_GENERATE", message);
  }
}

/**
 * One per-pod Service for every ordinal of a StatefulSet (`spec.ordinals.start` on), built so
 * that no rule fires: the pod-name selector alone (so selector-mismatch cannot fire), the
 * required labels with the configured extra ones, and `externalTrafficPolicy: Local`.
 * Null when the object is not a StatefulSet (of any apps version).
 */
export function generatePerPodServices(
  statefulSet: unknown,
  options: GenerateOptions,
): Record<string, unknown>[] | null {
  const sts = summarizeStatefulSet(statefulSet, options.defaultNamespace);
  if (!sts) return null;
  const ports = selectPorts(
    readContainerPorts(statefulSet),
    options.ports,
    sts.name,
    options.portsFrom ?? "--port",
  );
  const explicitNamespace = readString(readMap(statefulSet, "metadata"), "namespace");
  const services: Record<string, unknown>[] = [];
  for (const ordinal of options.ordinals ?? ordinalsOf(sts)) {
    const target = { statefulSet: sts.name, ordinal };
    const podName = `${sts.name}-${ordinal}`;
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: podName,
        ...(explicitNamespace ? { namespace: explicitNamespace } : {}),
        labels: requiredLabels(target, { status: "found", statefulSet: sts }, options.policy),
      },
      spec: {
        type: options.type,
        externalTrafficPolicy: "Local",
        selector: { [POD_NAME_LABEL]: podName },
        ports: ports.map((p) => ({ ...p })),
      },
    });
  }
  return services;
}

function* ordinalsOf(sts: {
  readonly start: number;
  readonly replicas: number;
}): Generator<number, void, undefined> {
  for (let ordinal = sts.start; ordinal < sts.start + sts.replicas; ordinal++) yield ordinal;
}

export function readContainerPorts(statefulSet: unknown): ContainerPort[] {
  const podSpec = readMap(readMap(readMap(statefulSet, "spec"), "template"), "spec");
  const containers = podSpec?.["containers"];
  const found: ContainerPort[] = [];
  if (!Array.isArray(containers)) return found;
  for (const container of containers) {
    const ports = isJsonMap(container) ? container["ports"] : undefined;
    if (!Array.isArray(ports)) continue;
    for (const port of ports) {
      if (!isJsonMap(port) || typeof port["containerPort"] !== "number") continue;
      found.push({
        name: readString(port, "name"),
        containerPort: port["containerPort"],
        protocol: readString(port, "protocol") ?? "TCP",
      });
    }
  }
  return found;
}

/**
 * Service ports for the chosen container ports: same number, name and protocol, targeting
 * the container port by name when it has one (so a changed number in the template follows).
 */
function selectPorts(
  available: readonly ContainerPort[],
  wanted: readonly string[],
  stsName: string,
  portsFrom: string,
): ServicePort[] {
  const chosen: ContainerPort[] = [];
  for (const spec of wanted) {
    const byName = available.filter((p) => p.name === spec);
    const number = /^\d+$/.test(spec) ? Number(spec) : NaN;
    const byNumber = available.filter((p) => p.containerPort === number);
    const matches = byName.length > 0 ? byName : byNumber;
    if (matches.length > 0) {
      chosen.push(...matches);
    } else if (Number.isInteger(number) && number > 0 && number < 65536) {
      chosen.push({ name: undefined, containerPort: number, protocol: "TCP" });
    } else {
      throw new GenerateError(
        `${portsFrom} ${spec}: StatefulSet ${stsName} has no container port named ${spec}`,
      );
    }
  }
  const ports = dedupePorts(wanted.length > 0 ? chosen : available);
  if (ports.length === 0) {
    throw new GenerateError(
      `StatefulSet ${stsName} declares no container ports; say which with ${portsFrom}`,
    );
  }
  // Kubernetes requires a name on every port of a Service with more than one.
  const needNames = ports.length > 1;
  return ports.map((p) => {
    const name =
      p.name ?? (needNames ? `${p.protocol.toLowerCase()}-${p.containerPort}` : undefined);
    return {
      ...(name === undefined ? {} : { name }),
      protocol: p.protocol,
      port: p.containerPort,
      targetPort: p.name ?? p.containerPort,
    };
  });
}

function dedupePorts(ports: readonly ContainerPort[]): ContainerPort[] {
  const seen = new Set<string>();
  return ports.filter((p) => {
    const key = `${p.containerPort}/${p.protocol}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
