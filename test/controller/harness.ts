/**
 * A fake API server with server-side apply, and controllers on it with test timings; both are
 * torn down after each test.
 */
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach } from "vitest";
import { defaultConfig } from "../../src/config/config.js";
import {
  createController,
  type Controller,
  type ControllerOptions,
} from "../../src/controller/controller.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { installServerSideApply } from "../helpers/server-side-apply.js";
import { waitFor } from "../helpers/wait-for.js";

type JsonObject = Record<string, unknown>;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export async function startFake(): Promise<FakeApiServer> {
  const fake = await FakeApiServer.start();
  installServerSideApply(fake);
  cleanups.push(() => fake.close());
  return fake;
}

export const TEST_TIMING = { leaseDurationMs: 1_000, renewDeadlineMs: 600, retryPeriodMs: 100 };

export interface RunningController {
  readonly controller: Controller;
  readonly registry: Registry;
  readonly logs: JsonObject[];
  /** Stops it (releasing the Lease); cleanup skips it afterwards. */
  stop(): Promise<void>;
}

export function startController(
  fake: FakeApiServer,
  overrides: Partial<ControllerOptions> & { token?: string } = {},
): RunningController {
  const logs: JsonObject[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void logs.push(JSON.parse(line) as JsonObject) },
  );
  const registry = new Registry();
  const { token, ...options } = overrides;
  const controller = createController({
    kubeConfig: fake.kubeConfig(token),
    logger,
    policy: defaultConfig.policy,
    registry,
    leaseNamespace: "stsguard",
    leaderElection: TEST_TIMING,
    backoff: { initialMs: 20, maxMs: 100 },
    random: () => 0,
    ...options,
  });
  controller.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await controller.close();
  };
  cleanups.push(stop);
  return { controller, registry, logs, stop };
}

export interface KafkaOptions {
  readonly name?: string;
  readonly namespace?: string;
  readonly replicas?: number;
  readonly start?: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A Kafka StatefulSet whose brokers listen on 9092 (`kafka`) and 9404 (`metrics`). */
export function kafka(options: KafkaOptions = {}): JsonObject {
  const name = options.name ?? "kafka";
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name,
      namespace: options.namespace ?? "streaming",
      labels: { team: "data" },
      annotations: { ...(options.annotations ?? { "stsguard.io/expose": "LoadBalancer" }) },
    },
    spec: {
      replicas: options.replicas ?? 3,
      ...(options.start === undefined ? {} : { ordinals: { start: options.start } }),
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "broker",
              image: "apache/kafka:3.9.0",
              ports: [
                { name: "kafka", containerPort: 9092 },
                { name: "metrics", containerPort: 9404 },
              ],
            },
          ],
        },
      },
    },
  };
}

export function serviceNames(fake: FakeApiServer, namespace = "streaming"): string[] {
  return fake.list("services", namespace).map((s) => String((s["metadata"] as JsonObject)["name"]));
}

export async function waitForServices(
  fake: FakeApiServer,
  names: readonly string[],
  namespace = "streaming",
): Promise<void> {
  await waitFor(`Services ${names.join(", ")}`, () => {
    const found = serviceNames(fake, namespace);
    return found.length === names.length && names.every((n) => found.includes(n));
  });
}

export interface RecordedEvent {
  readonly reason: string;
  readonly message: string;
  readonly type: string;
  readonly count: number;
  readonly involvedObject: JsonObject;
}

export function eventsOf(
  fake: FakeApiServer,
  reason?: string,
  namespace = "streaming",
): RecordedEvent[] {
  return fake
    .list("events", namespace)
    .map((e) => e as unknown as RecordedEvent)
    .filter((e) => reason === undefined || e.reason === reason);
}

export async function metricValue(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))
    .reduce((sum, v) => sum + v.value, 0);
}
