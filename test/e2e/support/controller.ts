/**
 * The per-pod Service controller on the real cluster: StatefulSets to annotate, and reads of what
 * the API server stored (Services, their managedFields, Events), all through kubectl.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { stringify } from "yaml";
import { eventually, type Cluster } from "./cluster.js";
import { cliPath } from "./paths.js";
import { freePort, makeWorkDir, watchChild } from "./stsguard.js";

export type JsonObject = Record<string, unknown>;

export interface StoredService {
  readonly metadata: {
    readonly name: string;
    readonly uid: string;
    readonly resourceVersion: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
    readonly ownerReferences?: JsonObject[];
    readonly managedFields?: { manager: string; operation: string; fieldsV1?: JsonObject }[];
  };
  readonly spec: {
    readonly type: string;
    readonly externalTrafficPolicy?: string;
    readonly selector?: Record<string, string>;
    readonly loadBalancerSourceRanges?: string[];
    readonly ports: { name?: string; port: number; nodePort?: number; targetPort?: unknown }[];
  };
}

export interface StoredEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count?: number;
  readonly source?: { component?: string };
  readonly reportingComponent?: string;
  readonly involvedObject: { name: string; kind: string; uid: string };
}

export interface StatefulSetOptions {
  readonly name: string;
  readonly namespace: string;
  readonly replicas?: number;
  readonly start?: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly ports?: readonly { name: string; containerPort: number }[];
}

export function statefulSet(options: StatefulSetOptions): JsonObject {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name: options.name,
      namespace: options.namespace,
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {
      replicas: options.replicas ?? 2,
      ...(options.start === undefined ? {} : { ordinals: { start: options.start } }),
      serviceName: options.name,
      selector: { matchLabels: { app: options.name } },
      template: {
        metadata: { labels: { app: options.name } },
        spec: {
          containers: [
            {
              name: "main",
              image: "registry.example/app:1",
              ports: options.ports ?? [
                { name: "client", containerPort: 9092 },
                { name: "metrics", containerPort: 9404 },
              ],
            },
          ],
        },
      },
    },
  };
}

/** The Service as stored, managedFields included (kubectl hides them by default). */
export async function getService(
  cluster: Cluster,
  namespace: string,
  name: string,
): Promise<StoredService | null> {
  const result = await cluster.kubectl(
    ["get", "service", name, "-n", namespace, "-o", "json", "--show-managed-fields"],
    { allowFailure: true },
  );
  if (result.code !== 0) {
    if (/NotFound|not found/.test(result.stderr)) return null;
    throw new Error(`kubectl get service ${name} failed: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as StoredService;
}

export async function serviceNames(cluster: Cluster, namespace: string): Promise<string[]> {
  const services = await cluster.list<StoredService>("services", namespace);
  return services.map((service) => service.metadata.name).sort();
}

/** Waits until the namespace holds exactly these Services (by name). */
export async function waitForServices(
  cluster: Cluster,
  namespace: string,
  names: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  const wanted = [...names].sort();
  let last: string[] = [];
  try {
    await eventually(
      async () => {
        last = await serviceNames(cluster, namespace);
        return JSON.stringify(last) === JSON.stringify(wanted) ? true : undefined;
      },
      `Services [${wanted.join(", ")}] in ${namespace}`,
      timeoutMs,
    );
  } catch (error: unknown) {
    throw new Error(
      `${error instanceof Error ? error.message : String(error)} (last seen: [${last.join(", ")}])`,
    );
  }
}

/** The Events on a StatefulSet, oldest first (by creation, then name). */
export async function eventsOn(
  cluster: Cluster,
  namespace: string,
  statefulSet: string,
  reason?: string,
): Promise<StoredEvent[]> {
  const events = await cluster.list<StoredEvent & { metadata: { creationTimestamp: string } }>(
    "events",
    namespace,
  );
  return events
    .filter(
      (event) =>
        event.involvedObject.kind === "StatefulSet" &&
        event.involvedObject.name === statefulSet &&
        (reason === undefined || event.reason === reason),
    )
    .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
}

/** Waits for an Event of `reason` on the StatefulSet whose message passes `matches`. */
export async function waitForEvent(
  cluster: Cluster,
  namespace: string,
  statefulSetName: string,
  reason: string,
  matches: (event: StoredEvent) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<StoredEvent> {
  return eventually(
    async () =>
      (await eventsOn(cluster, namespace, statefulSetName, reason)).find((event) => matches(event)),
    `a ${reason} Event on StatefulSet ${namespace}/${statefulSetName}`,
    timeoutMs,
  );
}

/** The managers on record for a Service: `manager/operation`, sorted. */
export function managersOf(service: StoredService | null): string[] {
  return (service?.metadata.managedFields ?? [])
    .map((entry) => `${entry.manager}/${entry.operation}`)
    .sort();
}

export async function annotate(
  cluster: Cluster,
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string | null>>,
): Promise<void> {
  await cluster.kubectl([
    "annotate",
    "statefulset",
    name,
    "-n",
    namespace,
    "--overwrite",
    ...Object.entries(annotations).map(([key, value]) =>
      value === null ? `${key}-` : `${key}=${value}`,
    ),
  ]);
}

/** A counter or gauge of serve's /metrics text, or 0 when the series is absent. */
export function metricValue(text: string, series: string): number {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

/** Whether the process behind `metrics` leads: holds the controller's Lease. */
export async function isLeader(process: { metrics(): Promise<string> }): Promise<boolean> {
  return metricValue(await process.metrics(), "stsguard_controller_leader") === 1;
}

/** Waits until the process behind `metrics` holds the controller's Lease. */
export async function waitForLeader(process: { metrics(): Promise<string> }): Promise<void> {
  await eventually(
    async () => ((await isLeader(process)) ? true : undefined),
    "the controller to take the Lease",
  );
}

export interface ControllerProcess {
  readonly metricsPort: number;
  metrics(): Promise<string>;
  logs(): Record<string, unknown>[];
  /** Replaces the configuration file (the controller reloads it). */
  writeConfig(config: string | object): void;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** A key file both the webhook (`serve --approval-key-file`) and the controller read. */
export async function makeApprovalKey(): Promise<string> {
  const file = path.join(await makeWorkDir("approval-key"), "key");
  writeFileSync(file, randomBytes(48).toString("base64"), { mode: 0o600 });
  return file;
}

/** `stsguard controller` (the chart's controller Deployment) against the cluster. */
export async function startControllerProcess(options: {
  readonly kubeconfig: string;
  readonly approvalKeyFile: string;
  readonly podName: string;
  readonly config?: string | object;
  readonly leaseNamespace: string;
}): Promise<ControllerProcess> {
  const work = await makeWorkDir("controller");
  const configFile = path.join(work, "config.yaml");
  const writeConfig = (config: string | object): void => {
    writeFileSync(`${configFile}.tmp`, typeof config === "string" ? config : stringify(config));
    renameSync(`${configFile}.tmp`, configFile);
  };
  writeConfig(options.config ?? "");
  const metricsPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      cliPath,
      "controller",
      "--kubeconfig",
      options.kubeconfig,
      "--config",
      configFile,
      "--approval-key-file",
      options.approvalKeyFile,
      "--leader-election-namespace",
      options.leaseNamespace,
      "--host",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
    ],
    { cwd: work, env: { PATH: process.env["PATH"] ?? "", HOME: work, POD_NAME: options.podName } },
  );
  const { lines, stderr, exited } = watchChild(child);
  const metrics = async (): Promise<string> =>
    (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  await eventually(
    async () => {
      if (exitCode !== undefined)
        throw new Error(`controller exited (${String(exitCode)}): ${stderr()}`);
      return (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status === 200
        ? true
        : undefined;
    },
    "stsguard controller to listen",
    30_000,
  );
  return {
    metricsPort,
    metrics,
    logs: () => lines,
    writeConfig,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    exited,
  };
}
