import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createKubeTransport } from "../../src/kube/client.js";
import { createReflector } from "../../src/kube/reflector.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { aStatefulSet } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Why a test API server: the point is the relist after the API server compacted its history
// while a key was deleted (410 Gone on demand); the list and the events before it set it up.
describe("reflector onChange", () => {
  it("reports every key after a list, each watch event, and every key again after a relist", async () => {
    const fake = await FakeApiServer.start();
    cleanups.push(() => fake.close());
    fake.apply("statefulsets", aStatefulSet({ name: "web" }));
    fake.apply("statefulsets", aStatefulSet({ name: "db" }));
    const changes: string[] = [];
    const reflector = createReflector<string>({
      resource: "statefulsets",
      path: "/apis/apps/v1/statefulsets",
      typeMeta: { apiVersion: "apps/v1", kind: "StatefulSet" },
      summarize: (_obj, namespace) => namespace,
      transport: createKubeTransport(fake.kubeConfig()),
      logger: pino({ level: "silent" }),
      clock: { now: () => performance.now() },
      random: () => 0,
      staleAfterMs: 60_000,
      watchTimeoutSeconds: 60,
      listTimeoutMs: 5_000,
      pageSize: 100,
      backoff: { initialMs: 10, maxMs: 20 },
      onChange: ({ namespace, name }) => changes.push(`${namespace}/${name}`),
    });
    const running = reflector.run();
    cleanups.push(async () => {
      reflector.stop();
      await running;
    });
    await reflector.synced;
    expect(changes.sort()).toEqual(["demo/db", "demo/web"]);
    await waitFor("the watch", () => fake.liveWatches("statefulsets") === 1);

    changes.length = 0;
    fake.remove("statefulsets", "demo", "db");
    fake.apply("statefulsets", aStatefulSet({ name: "cache" }));
    await waitFor("two events", () => changes.length === 2);
    expect(changes).toEqual(["demo/db", "demo/cache"]);
    fake.sendBookmark("statefulsets");

    // History compacted while a key is deleted: the relist reports it (gone) with the others.
    changes.length = 0;
    fake.compact();
    fake.dropWatches("statefulsets");
    fake.remove("statefulsets", "demo", "web");
    fake.compact();
    await waitFor("a relist", () => changes.length === 2);
    expect(changes.sort()).toEqual(["demo/cache", "demo/web"]);
    expect(reflector.get("demo", "web")).toBeUndefined();
  });
});
