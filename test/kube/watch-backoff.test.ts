/**
 * A watch the API server ends at once, again and again, with nothing in it (an overloaded or
 * misconfigured server, a proxy that cuts streams) is restarted with exponential backoff, not in
 * a tight loop that would hammer the API server. Asserted by counting watch requests over a
 * window, not by timing.
 *
 * Why a test API server: it ends every watch at once, on demand.
 */
import { describe, expect, it } from "vitest";
import { sleep } from "../../src/kube/backoff.js";
import { waitFor } from "../helpers/wait-for.js";
import { startServer, startSource } from "./harness.js";

const WINDOW_MS = 1_500;

describe("watch restart backoff", () => {
  it("restarts a watch that ends at once with growing delays", async () => {
    const server = await startServer();
    server.endWatchesAtOnce("statefulsets");
    // random 0: each delay is half its base, 10, 20, 40, ... ms; about 7 restarts fit the window.
    const h = await startSource(
      server,
      { backoff: { initialMs: 20, maxMs: 60_000 } },
      { sync: false },
    );
    await h.source.start();
    await sleep(WINDOW_MS, new AbortController().signal);

    const watches = server.watchRequests("statefulsets").length;
    expect(watches).toBeGreaterThanOrEqual(3);
    // Without backoff, a loopback server is watched thousands of times in this window.
    expect(watches).toBeLessThanOrEqual(12);
    const restarts = h.metrics.calls.filter(
      (c) => c === "watch-restart statefulsets server-closed",
    );
    expect(restarts.length).toBe(watches);
    // The other watch, which the server keeps open, is untouched.
    expect(server.watchRequests("services")).toHaveLength(1);
  });

  it("resumes a normal watch once the server stops ending them", async () => {
    const server = await startServer();
    server.endWatchesAtOnce("statefulsets");
    const h = await startSource(
      server,
      { backoff: { initialMs: 20, maxMs: 60_000 } },
      { sync: false },
    );
    await h.source.start();
    await sleep(WINDOW_MS, new AbortController().signal);
    server.endWatchesAtOnce("statefulsets", false);
    // The next restart (after the current delay, under a second) gets a normal stream.
    await waitFor(
      "a normal statefulsets watch",
      () => server.liveWatches("statefulsets") === 1,
      3_000,
    );
    expect(h.source.readHealth().statefulSetsFresh).toBe(true);
  });
});
