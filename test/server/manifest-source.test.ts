import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { createManifestSource } from "../../src/statefulsets/manifest-source.js";
import { makeTempDir } from "../certs/tls-probes.js";
import { repoRoot } from "../helpers/objects.js";

const logs = createMemoryLogDestination();
const logger = createLogger({ destination: logs });
let temp: { dir: string; remove: () => Promise<void> };

beforeAll(async () => {
  temp = await makeTempDir("manifest-source");
  await mkdir(join(temp.dir, "good", "nested"), { recursive: true });
  await writeFile(
    join(temp.dir, "good", "db.yaml"),
    [
      "apiVersion: apps/v1",
      "kind: StatefulSet",
      "metadata: {name: db}",
      "spec: {replicas: 2, ordinals: {start: 5}}",
    ].join("\n"),
  );
  await writeFile(
    join(temp.dir, "good", "nested", "list.json"),
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "db-6", namespace: "data" },
          spec: { selector: { "statefulset.kubernetes.io/pod-name": "db-6" } },
        },
      ],
    }),
  );
  await mkdir(join(temp.dir, "broken"));
  await writeFile(join(temp.dir, "broken", "ok.yaml"), "apiVersion: v1\nkind: ConfigMap\n");
  await writeFile(join(temp.dir, "broken", "bad.yaml"), "kind: Service\nmetadata:\n  name: [x\n");
});

afterAll(async () => {
  await temp.remove();
});

describe("createManifestSource (serve --manifests)", () => {
  it("joins each StatefulSet with the autoscaler among the manifests that scales it", async () => {
    const source = await createManifestSource("test/fixtures/manifests/autoscaled", {
      cwd: repoRoot,
      logger,
    });
    const hpa = {
      kind: "HorizontalPodAutoscaler",
      namespace: "data",
      name: "kafka-controller",
      statefulSet: "kafka-controller",
      minReplicas: 3,
      maxReplicas: 5,
      hpaName: null,
    };
    expect(await source.lookup("data", "kafka-controller")).toMatchObject({
      status: "found",
      statefulSet: { replicas: 1, replicasUnset: true, autoscaler: hpa },
    });
    expect(await source.autoscalers("data")).toEqual([hpa]);
    expect(await source.autoscalers("default")).toEqual([]);
    // The start banner's example targets the first ordinal beyond the HPA's reach.
    expect(source.statefulSets.map((s) => s.autoscaler?.name)).toEqual(["kafka-controller"]);
  });

  it("holds the demo StatefulSet and per-pod Services of examples/manifests", async () => {
    const source = await createManifestSource("examples/manifests", { cwd: repoRoot, logger });
    expect(source.isReady()).toBe(true);
    expect(await source.lookup("default", "web")).toMatchObject({
      status: "found",
      statefulSet: { namespace: "default", name: "web", replicas: 3, start: 0 },
    });
    expect(await source.lookupLive("default", "nope")).toEqual({ status: "not-found" });
    const services = await source.perPodServices("default", "web");
    expect(services.map((s) => s.name).sort()).toEqual(["web-0", "web-1"]);
  });

  it("reads directories recursively, lists, and puts objects without a namespace in default", async () => {
    const source = await createManifestSource("good", { cwd: temp.dir, logger });
    expect(await source.lookup("default", "db")).toMatchObject({
      status: "found",
      statefulSet: { start: 5, replicas: 2 },
    });
    expect(await source.perPodServices("data", "db")).toEqual([
      { namespace: "data", name: "db-6", target: { statefulSet: "db", ordinal: 6 } },
    ]);
  });

  it("fails with a ConfigError naming file and line when a manifest does not parse", async () => {
    const reading = createManifestSource("broken", { cwd: temp.dir, logger });
    await expect(reading).rejects.toThrow(ConfigError);
    await expect(reading).rejects.toThrow(/^--manifests broken: broken\/bad\.yaml:\d+(:\d+)?: /);
  });

  it("fails when the directory does not exist", async () => {
    await expect(createManifestSource("missing", { cwd: temp.dir, logger })).rejects.toThrow(
      /--manifests missing: missing/,
    );
  });
});
