/** Governing Services in the cluster source: any Service by name, from the cache or live. */
import { describe, expect, it } from "vitest";
import { aService } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { startHarness } from "./harness.js";

describe("cluster source: lookupService and the snapshot", () => {
  it("answers any Service from the cache: headless, not headless, missing", async () => {
    const h = await startHarness();
    expect(await h.source.lookupService("demo", "web")).toEqual({
      status: "found",
      service: { namespace: "demo", name: "web", headless: true, selector: { app: "web" } },
    });
    const perPod = await h.source.lookupService("demo", "web-0");
    expect(perPod.status === "found" && perPod.service.headless).toBe(false);
    expect(await h.source.lookupService("demo", "nope")).toEqual({ status: "not-found" });
    expect(await h.source.lookupService("other", "web")).toEqual({ status: "not-found" });
    expect(h.server.readRequests()).toEqual([]);
  });

  it("follows watch events, and per-pod lists still hold only per-pod Services", async () => {
    const h = await startHarness();
    h.server.apply(
      "services",
      aService({ name: "db", selector: { app: "db" }, clusterIP: "None" }),
    );
    await waitFor(
      "the new Service in the cache",
      async () => (await h.source.lookupService("demo", "db")).status === "found",
      3_000,
    );
    expect((await h.source.perPodServices("demo", "web")).map((s) => s.name)).toEqual([
      "web-0",
      "web-1",
    ]);
    const snapshot = h.source.readSnapshot();
    expect(snapshot?.statefulSets.map((s) => `${s.namespace}/${s.name}`).sort()).toEqual([
      "demo/db",
      "demo/web",
      "other/web",
    ]);
    expect(snapshot?.services.filter((s) => s.perPod).length).toBe(4);
    expect(
      snapshot?.services
        .filter((s) => s.service.headless)
        .map((s) => s.service.name)
        .sort(),
    ).toEqual(["db", "web"]);
  });

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
