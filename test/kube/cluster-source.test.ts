import { describe, expect, it } from "vitest";
import { LookupError } from "../../src/errors.js";
import type { FakeApiServer, WatchFault } from "../helpers/fake-apiserver.js";
import { waitFor } from "../helpers/wait-for.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { lastWatch, startHarness, startServer, startSource, type Harness } from "./harness.js";

const INFO = 30;
const WARN = 40;

function setReplicas(server: FakeApiServer, name: string, replicas: number): string {
  return server.update("statefulsets", "demo", name, (sts) => {
    (sts["spec"] as Record<string, unknown>)["replicas"] = replicas;
  });
}

async function replicasOf(h: Harness, name: string, namespace = "demo"): Promise<unknown> {
  const result = await h.source.lookup(namespace, name);
  return result.status === "found" ? result.statefulSet.replicas : result.status;
}

/*
 * The cluster source against the test API server, for what a real one cannot be made to do.
 * Its normal behaviour — the first sync, page by page; answers and summaries from the cache;
 * ADDED, MODIFIED and DELETED StatefulSets and Services; governing Services; live reads found
 * and not found — is proven against a real API server in test/e2e/webhook-caches.e2e.test.ts.
 */
describe("first sync: the requests it sends", () => {
  // Why a test API server: it records every request, so the test sees the limit and continue
  // the client sent; a real one only shows that the pages came back.
  it("pages the list with limit and continue", async () => {
    const server = await startServer((s) => {
      for (let i = 0; i < 5; i++) s.apply("statefulsets", aStatefulSet({ name: `s${i}` }));
    });
    const h = await startSource(server, { pageSize: 2 });
    const lists = server.listRequests("statefulsets");
    expect(lists.map((r) => [r.query["limit"], Boolean(r.query["continue"])])).toEqual([
      ["2", false],
      ["2", true],
      ["2", true],
    ]);
    expect(await replicasOf(h, "s4")).toBe(2);
    expect(h.source.readHealth().statefulSets).toBe(5);
  });

  // Why a test API server: it records the watch's query (resourceVersion, bookmarks, timeout).
  it("watches from the list's resourceVersion with bookmarks and a jittered timeout", async () => {
    const server = await startServer();
    const listVersion = server.resourceVersion();
    await startSource(server, { watchTimeoutSeconds: 300, random: () => 0.5 });
    for (const resource of ["statefulsets", "services"] as const) {
      expect(lastWatch(server, resource)?.query).toEqual({
        watch: "true",
        resourceVersion: listVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: "450",
      });
    }
  });
});

// Why a test API server: it drops watches, sends bookmarks and ERROR events, and ends watches
// early on demand, and records each watch's resourceVersion.
describe("resuming a watch", () => {
  it.each([
    {
      name: "a dropped connection resumes from the last event's resourceVersion",
      lastSeen: (s: FakeApiServer) => setReplicas(s, "web", 4),
      interrupt: (s: FakeApiServer) => {
        s.dropWatches("statefulsets");
      },
      restartReason: "failed",
    },
    {
      name: "a dropped connection resumes from a bookmark's resourceVersion",
      lastSeen: (s: FakeApiServer) => {
        s.apply("services", aService({ podName: "web-2" }));
        s.sendBookmark("statefulsets");
        return s.resourceVersion();
      },
      interrupt: (s: FakeApiServer) => {
        s.dropWatches("statefulsets");
      },
      restartReason: "failed",
    },
    {
      name: "an ERROR event other than 410 resumes from the last resourceVersion",
      lastSeen: (s: FakeApiServer) => setReplicas(s, "web", 4),
      interrupt: (s: FakeApiServer) => {
        s.failNextWatch("statefulsets", {
          kind: "error-event",
          code: 500,
          reason: "InternalError",
        });
        s.dropWatches("statefulsets");
      },
      restartReason: "failed",
    },
  ])("$name, without a relist", async ({ lastSeen, interrupt, restartReason }) => {
    const h = await startHarness();
    const expectedVersion = lastSeen(h.server);
    await waitFor(
      `the watch at resourceVersion ${expectedVersion}`,
      () => h.source.readHealth().resourceVersions.statefulSets === expectedVersion,
      3_000,
    );
    const watchesBefore = h.server.watchRequests("statefulsets").length;
    interrupt(h.server);
    await waitFor(
      "a new watch",
      () =>
        h.server.watchRequests("statefulsets").length >= watchesBefore + 1 &&
        h.server.activeWatches("statefulsets") === 1,
      3_000,
    );
    const resumed = h.server.watchRequests("statefulsets").slice(watchesBefore);
    expect(resumed.map((r) => r.query["resourceVersion"])).toEqual(
      resumed.map(() => expectedVersion),
    );
    expect(h.server.listRequests("statefulsets")).toHaveLength(1);
    expect(h.metrics.calls).toContain(`watch-restart statefulsets ${restartReason}`);
  });

  it("delivers the changes made while the connection was down once it resumes", async () => {
    const h = await startHarness();
    h.server.dropWatches("statefulsets");
    setReplicas(h.server, "web", 7);
    h.server.remove("statefulsets", "demo", "db");
    await waitFor("web scaled to 7", async () => (await replicasOf(h, "web")) === 7, 3_000);
    expect(await replicasOf(h, "db")).toBe("not-found");
    expect(h.server.listRequests("statefulsets")).toHaveLength(1);
    expect(h.logs.some((l) => l.level === WARN && l.msg.startsWith("watch failed") && l.err)).toBe(
      true,
    );
  });

  it("renews the watch when the server ends it after timeoutSeconds", async () => {
    const h = await startHarness({ watchTimeoutSeconds: 1 });
    const version = setReplicas(h.server, "web", 4);
    await waitFor(
      "a renewed watch",
      () => h.server.watchRequests("statefulsets").length >= 2,
      3_000,
    );
    expect(lastWatch(h.server, "statefulsets")?.query["resourceVersion"]).toBe(version);
    expect(h.server.listRequests("statefulsets")).toHaveLength(1);
    expect(h.metrics.calls).toContain("watch-restart statefulsets server-closed");
  });
});

// Why a test API server: it compacts its history and answers 410 Gone on demand.
describe("410 Gone", () => {
  const faults: { name: string; fault: WatchFault }[] = [
    {
      name: "an ERROR event with a Status code 410 Expired",
      fault: { kind: "error-event", code: 410, reason: "Expired" },
    },
    { name: "an HTTP 410 answer", fault: { kind: "http", status: 410, reason: "Gone" } },
  ];

  it.each(faults)("relists after $name", async ({ fault }) => {
    const h = await startHarness();
    h.server.failNextWatch("statefulsets", fault);
    h.server.dropWatches("statefulsets");
    await waitFor("a relist", () => h.server.listRequests("statefulsets").length === 2, 3_000);
    await waitFor("fresh again", () => h.source.readHealth().statefulSetsFresh, 3_000);
    expect(h.metrics.calls).toContain("relist statefulsets");
    expect(h.logs.some((l) => l.level === INFO && l.msg.includes("relisting"))).toBe(true);
    expect(h.logs.some((l) => l.msg === "cache relisted")).toBe(true);
  });

  it("after a relist, a scale-down and a delete missed while the watch was down are reflected", async () => {
    const h = await startHarness();
    h.server.dropWatches("statefulsets");
    setReplicas(h.server, "web", 1);
    h.server.remove("statefulsets", "demo", "db");
    h.server.compact();
    await waitFor(
      "a fresh cache after the relist",
      () =>
        h.source.readHealth().statefulSetsFresh &&
        h.server.listRequests("statefulsets").length === 2,
      3_000,
    );
    // Answered from the relisted cache, not by live reads.
    const liveReads = h.server.readRequests().length;
    expect(await replicasOf(h, "web")).toBe(1);
    expect(await replicasOf(h, "db")).toBe("not-found");
    expect(h.server.readRequests()).toHaveLength(liveReads);
    expect(h.source.readHealth().statefulSets).toBe(2);
    const gone = h.server.watchRequests("statefulsets")[1];
    expect(Number(gone?.query["resourceVersion"])).toBeLessThan(Number(h.server.resourceVersion()));
  });
});

// Why a test API server: it sends bookmarks every 50 ms, stalls and refuses watches, and fails
// lists on demand; a real one sends a bookmark about once a minute.
describe("freshness", () => {
  it("stays fresh while bookmarks arrive although nothing changes", async () => {
    const h = await startHarness({ staleAfterMs: 400 });
    const timer = setInterval(() => {
      h.server.sendBookmark();
    }, 50);
    try {
      await expectFreshFor(h, "more than two stale windows", 1_000);
    } finally {
      clearInterval(timer);
    }
    expect(await replicasOf(h, "web")).toBe(3);
    expect(h.server.readRequests()).toEqual([]);
    expect(h.server.watchRequests("statefulsets")).toHaveLength(1);
  });

  it("stays fresh on a resource nobody changes: renews the silent watch, needs no bookmark", async () => {
    // A real 1.26 API server sent no bookmark for minutes on an idle resource
    // (test/e2e/cache-freshness.e2e.test.ts); the accepted renewal is the sign of life.
    const h = await startHarness({ staleAfterMs: 300 });
    h.server.quietWatches();
    await expectFreshFor(h, "four stale windows", 1_200);
    expect(await replicasOf(h, "web")).toBe(3);
    expect(h.server.readRequests()).toEqual([]);
    // Renewed about every half window, from the same resourceVersion, without a relist.
    const watches = h.server.watchRequests("statefulsets");
    expect(watches.length).toBeGreaterThanOrEqual(4);
    expect(new Set(watches.map((w) => w.query["resourceVersion"])).size).toBe(1);
    expect(h.server.listRequests("statefulsets")).toHaveLength(1);
    expect(h.metrics.calls).toContain("watch-restart statefulsets silent");
  });

  it("goes stale when the API server stops answering watches, reads live, and replaces the watch", async () => {
    const h = await startHarness({ staleAfterMs: 300 });
    h.server.stallWatches();
    setReplicas(h.server, "web", 6);
    expect(await replicasOf(h, "web")).toBe(3);
    await waitFor(
      "stale caches",
      () => !h.source.readHealth().statefulSetsFresh && !h.source.readHealth().autoscalersFresh,
      3_000,
    );
    expect(await replicasOf(h, "web")).toBe(6);
    // Every watch stalled: the HPAs are read live too.
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      "/apis/apps/v1/namespaces/demo/statefulsets/web",
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
    await waitFor(
      "a replaced watch",
      () => h.server.watchRequests("statefulsets").length >= 2,
      3_000,
    );
    expect(h.metrics.calls).toContain("watch-restart statefulsets silent");
    expect(h.metrics.calls).toContain("live-read statefulset found");
  });

  it("is fresh again after the replaced watch sees an event", async () => {
    const h = await startHarness({ staleAfterMs: 200 });
    h.server.stallWatches();
    await waitFor(
      "a replaced watch",
      () => h.server.watchRequests("statefulsets").length >= 2,
      3_000,
    );
    h.server.stallWatches(false);
    await waitFor("a live watch", () => h.server.liveWatches("statefulsets") === 1, 3_000);
    h.server.sendBookmark("statefulsets");
    await waitFor("fresh cache", () => h.source.readHealth().statefulSetsFresh, 3_000);
    expect(h.server.listRequests("statefulsets")).toHaveLength(1);
  });

  it("reads live while the watch is known to be broken, and trusts the cache again once it resumes", async () => {
    const h = await startHarness({ staleAfterMs: 60_000 });
    h.server.refuseWatches("statefulsets", 500);
    h.server.dropWatches("statefulsets");
    setReplicas(h.server, "web", 8);
    await waitFor(
      "the broken watch noticed",
      () => !h.source.readHealth().statefulSetsFresh,
      3_000,
    );
    expect(await replicasOf(h, "web")).toBe(8);
    expect(h.server.readRequests()).toHaveLength(1);
    h.server.refuseWatches("statefulsets", null);
    await waitFor("the watch resumed", () => h.source.readHealth().statefulSetsFresh, 3_000);
    expect(await replicasOf(h, "web")).toBe(8);
    expect(h.server.readRequests()).toHaveLength(1);
    expect(h.server.listRequests("statefulsets")).toHaveLength(1);
  });

  it("reads live before the first sync", async () => {
    const server = await startServer();
    server.failLists(500);
    const h = await startSource(server, {}, { sync: false });
    void h.source.start();
    expect(await replicasOf(h, "web")).toBe(3);
    expect(server.readRequests().map((r) => r.path)).toEqual([
      "/apis/apps/v1/namespaces/demo/statefulsets/web",
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
  });
});

// Why a test API server: it answers reads with 500, 403 or a stray 404 on demand, and delays
// them past the deadline; a StatefulSet found and not found is proven in the e2e suite.
describe("lookupLive", () => {
  it.each([
    {
      name: "a 500 is unavailable with a reason",
      sts: "web",
      setup: (s: FakeApiServer) => {
        s.failReads(500);
      },
      expected: {
        status: "unavailable",
        reason:
          "cannot read StatefulSet demo/web: the API server answered HTTP 500 InternalError: etcd is down",
      },
    },
    {
      name: "a 404 that does not name the StatefulSet (a proxy, a wrong path) is unavailable",
      sts: "web",
      setup: (s: FakeApiServer) => {
        s.failReads(404, "NotFound");
      },
      expected: {
        status: "unavailable",
        reason:
          "cannot read StatefulSet demo/web: the API server answered HTTP 404 NotFound: etcd is down",
      },
    },
    {
      name: "a 403 is unavailable with a reason",
      sts: "web",
      setup: (s: FakeApiServer) => {
        s.failReads(403, "Forbidden");
      },
      expected: {
        status: "unavailable",
        reason: expect.stringContaining("the API server answered HTTP 403 Forbidden"),
      },
    },
  ])("$name", async ({ sts, setup, expected }) => {
    const h = await startHarness();
    setup(h.server);
    expect(await h.source.lookupLive("demo", sts)).toMatchObject(expected);
    // The HPAs are listed beside the StatefulSet, not after it.
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      `/apis/apps/v1/namespaces/demo/statefulsets/${sts}`,
      "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers",
    ]);
  });

  it("gives up at its deadline and closes the connection", async () => {
    const h = await startHarness({ liveReadTimeoutMs: 150 });
    const connectionsBefore = h.server.openConnections();
    h.server.delayReads(5_000);
    const started = Date.now();
    const result = await h.source.lookupLive("demo", "web");
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(result).toEqual({
      status: "unavailable",
      reason: "cannot read StatefulSet demo/web from the API server: no answer within 150 ms",
    });
    await waitFor(
      "the connection closed",
      () => h.server.openConnections() === connectionsBefore,
      3_000,
    );
    expect(h.logs.some((l) => l.level === WARN && l.err)).toBe(true);
  });

  // Why a test API server: its watches are stalled, so the cache holds an old replica count.
  it("confirms with the API server even when the cache is fresh", async () => {
    const h = await startHarness();
    h.server.stallWatches();
    setReplicas(h.server, "web", 9);
    expect(await replicasOf(h, "web")).toBe(3);
    const live = await h.source.lookupLive("demo", "web");
    expect(live.status === "found" && live.statefulSet.replicas).toBe(9);
  });
});

// Why a test API server: its lists fail with 500 on demand.
describe("readiness", () => {
  it("stays not ready while the list fails and becomes ready when it succeeds", async () => {
    const server = await startServer();
    server.failLists(500);
    const h = await startSource(server, {}, { sync: false });
    const started = h.source.start();
    await waitFor("retried lists", () => server.listRequests("statefulsets").length >= 3, 3_000);
    expect(h.source.isReady()).toBe(false);
    expect(h.logs.some((l) => l.level === WARN && l.err?.message.includes("HTTP 500"))).toBe(true);
    server.failLists(null);
    await started;
    expect(h.source.isReady()).toBe(true);
  });

  it("resolves start when closed before the first sync, and stays not ready", async () => {
    const server = await startServer();
    server.failLists(500);
    const h = await startSource(server, {}, { sync: false });
    const started = h.source.start();
    await waitFor("a list", () => server.listRequests("statefulsets").length >= 1, 3_000);
    await h.source.close();
    await started;
    expect(h.source.isReady()).toBe(false);
  });
});

// Why a test API server: its watches stall (a stale cache) and its reads fail on demand.
describe("perPodServices", () => {
  it("lists the namespace live when the Service cache is stale", async () => {
    const h = await startHarness({ staleAfterMs: 200 });
    h.server.stallWatches();
    h.server.apply("services", aService({ podName: "web-2" }));
    await waitFor("stale Service cache", () => !h.source.readHealth().servicesFresh, 3_000);
    const services = await h.source.perPodServices("demo", "web");
    expect(services.map((s) => [s.name, s.target.ordinal])).toEqual([
      ["web-0", 0],
      ["web-1", 1],
      ["web-2", 2],
    ]);
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      "/api/v1/namespaces/demo/services",
    ]);
    expect(h.metrics.calls).toContain("live-read services listed");
  });

  it("rejects with a LookupError naming the namespace when the live list fails", async () => {
    const h = await startHarness({ staleAfterMs: 200 });
    h.server.stallWatches();
    h.server.failReads(503);
    await waitFor("stale Service cache", () => !h.source.readHealth().servicesFresh, 3_000);
    const failure = h.source.perPodServices("demo", "web");
    await expect(failure).rejects.toBeInstanceOf(LookupError);
    await expect(failure).rejects.toThrow(/Services in namespace demo.*HTTP 503/);
  });
});

// Why a test API server: it delays a read for 10 s and counts the connections still open.
describe("close", () => {
  it("stops the watches and leaves no timers or sockets behind", async () => {
    const before = countResources();
    const server = await startServer();
    // Long enough that a timer left behind would still be pending when we count.
    const h = await startSource(server, { staleAfterMs: 60_000, liveReadTimeoutMs: 60_000 });
    h.server.delayReads(10_000);
    const pending = h.source.lookupLive("demo", "web");
    // The StatefulSet and the HPAs of its namespace.
    await waitFor("a pending live read", () => server.readRequests().length === 2, 3_000);
    await h.source.close();
    expect(await pending).toMatchObject({ status: "unavailable" });
    await waitFor(
      "no connections",
      () => server.openConnections() === 0 && server.activeWatches() === 0,
      3_000,
    );
    expect(h.source.isReady()).toBe(false);
    expect(await h.source.lookup("demo", "web")).toMatchObject({ status: "unavailable" });
    await server.close();
    await waitFor(
      "resources back to where they were",
      () => {
        const after = countResources();
        return after.timers <= before.timers && after.sockets <= before.sockets;
      },
      3_000,
    );
  });
});

function countResources(): { timers: number; sockets: number } {
  const info = process.getActiveResourcesInfo();
  return {
    timers: info.filter((r) => r === "Timeout").length,
    sockets: info.filter((r) => r === "TCPSocketWrap" || r === "TCPServerWrap").length,
  };
}

/** Both caches stay trusted at every look for `ms` (each look fails the wait at once if not). */
async function expectFreshFor(h: Harness, what: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  await waitFor(
    what,
    () => {
      expect(h.source.readHealth()).toMatchObject({ statefulSetsFresh: true, servicesFresh: true });
      return Date.now() > until;
    },
    ms + 2_000,
  );
}
