/** Starts a fake API server and a cluster source on it, and tears both down after each test. */
import { pino } from "pino";
import { afterEach } from "vitest";
import {
  createClusterSource,
  type ClusterSource,
  type ClusterSourceMetrics,
  type ClusterSourceOptions,
} from "../../src/kube/cluster-source.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { waitFor } from "../helpers/wait-for.js";
import { aService, aStatefulSet } from "../helpers/objects.js";

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly resource?: string;
  readonly err?: { message: string };
  readonly [key: string]: unknown;
}

export interface RecordedMetrics extends ClusterSourceMetrics {
  readonly calls: string[];
}

export interface Harness {
  readonly server: FakeApiServer;
  readonly source: ClusterSource;
  readonly logs: LogLine[];
  readonly metrics: RecordedMetrics;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export function recordMetrics(): RecordedMetrics {
  const calls: string[] = [];
  return {
    calls,
    recordWatchRestart: (resource, reason) => calls.push(`watch-restart ${resource} ${reason}`),
    recordRelist: (resource) => calls.push(`relist ${resource}`),
    recordLiveRead: (what, outcome) => calls.push(`live-read ${what} ${outcome}`),
  };
}

export async function startServer(
  seed: (server: FakeApiServer) => void = seedDemo,
): Promise<FakeApiServer> {
  const server = await FakeApiServer.start();
  cleanups.push(() => server.close());
  seed(server);
  return server;
}

/** A source on `server`; fast backoff, no jitter; awaits the first sync unless told not to. */
export async function startSource(
  server: FakeApiServer,
  overrides: Partial<Omit<ClusterSourceOptions, "kubeConfig" | "logger">> = {},
  { sync = true }: { sync?: boolean } = {},
): Promise<Harness> {
  const logs: LogLine[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as LogLine);
      },
    },
  );
  const metrics = recordMetrics();
  const source = createClusterSource({
    kubeConfig: server.kubeConfig(),
    logger,
    metrics,
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 0,
    ...overrides,
  });
  cleanups.push(() => source.close());
  if (sync) {
    await source.start();
    // Every watch connected (StatefulSets, Services, HPAs), so the test's next change reaches
    // them as an event.
    await waitFor("every watch to connect", () => server.liveWatches() === 3, 3_000);
  }
  return { server, source, logs, metrics };
}

export async function startHarness(
  overrides: Partial<Omit<ClusterSourceOptions, "kubeConfig" | "logger">> = {},
): Promise<Harness> {
  return startSource(await startServer(), overrides);
}

/**
 * demo: StatefulSets web (3 replicas) and db (2), per-pod Services web-0, web-1, db-0 and
 * redis-2-0 (StatefulSet "redis-2"), a headless Service `web` and an ExternalName Service with
 * a pod-name selector (neither is per-pod). other: StatefulSet web (1 replica).
 */
export function seedDemo(server: FakeApiServer): void {
  server.apply("statefulsets", aStatefulSet({ name: "web", replicas: 3 }));
  server.apply("statefulsets", aStatefulSet({ name: "db", replicas: 2 }));
  server.apply("statefulsets", aStatefulSet({ name: "web", namespace: "other", replicas: 1 }));
  for (const podName of ["web-1", "web-0", "db-0", "redis-2-0"]) {
    server.apply("services", aService({ podName }));
  }
  server.apply("services", aService({ name: "web", selector: { app: "web" }, clusterIP: "None" }));
  server.apply("services", aService({ name: "ext", type: "ExternalName", podName: "web-0" }));
}

export function lastWatch(server: FakeApiServer, resource: "statefulsets" | "services") {
  const watches = server.watchRequests(resource);
  return watches[watches.length - 1];
}
