/** Governing Services in the cluster source: any Service by name, from the cache or live. */
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait-for.js";
import { startHarness } from "./harness.js";

describe("cluster source: lookupService and the snapshot", () => {
  // Why a test API server: its watches stall on demand, so the Service cache goes stale. Any
  // Service from the cache (headless, not headless, missing), watch events and the snapshot are
  // proven against a real API server in test/e2e/webhook-caches.e2e.test.ts.
  it("reads the Service live while the cache is stale", async () => {
    const h = await startHarness({ staleAfterMs: 300 });
    h.server.stallWatches();
    await waitFor("stale cache", () => !h.source.readHealth().servicesFresh, 3_000);
    expect(await h.source.lookupService("demo", "web")).toMatchObject({ status: "found" });
    expect(await h.source.lookupService("demo", "nope")).toEqual({ status: "not-found" });
    expect(h.server.readRequests().map((r) => r.path)).toEqual([
      "/api/v1/namespaces/demo/services/web",
      "/api/v1/namespaces/demo/services/nope",
    ]);
  });
});
