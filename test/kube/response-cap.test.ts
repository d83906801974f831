/**
 * The response body cap of the Kubernetes transport: an answer larger than the cap (a list page
 * or one object) is refused with a LookupError that names the cap, whether or not the server
 * declared its length, and is never buffered whole. The cluster source turns it into an
 * `unavailable` lookup and a list that does not sync; nothing crashes.
 *
 * Why a test API server: it streams an answer larger than the cap, with and without a length.
 */
import { describe, expect, it } from "vitest";
import { createKubeTransport } from "../../src/kube/client.js";
import { LookupError } from "../../src/errors.js";
import { aStatefulSet } from "../helpers/objects.js";
import type { FakeApiServer } from "../helpers/fake-apiserver.js";
import { startServer, startSource } from "./harness.js";

const CAP = 64 * 1024;

/** A StatefulSet `big` whose annotation alone is `bytes` long. */
function seedBig(bytes: number) {
  return (server: FakeApiServer): void => {
    const big = aStatefulSet({ name: "big" });
    (big["metadata"] as Record<string, unknown>)["annotations"] = { note: "x".repeat(bytes) };
    server.apply("statefulsets", big);
    server.apply("statefulsets", aStatefulSet({ name: "small" }));
  };
}

const BIG_PATH = "/apis/apps/v1/namespaces/demo/statefulsets/big";

describe.each([
  { answer: "with a Content-Length", streamed: false, refused: /of \d+ bytes \(Content-Length\)/ },
  { answer: "streamed without a length", streamed: true, refused: /of more than 65536 bytes/ },
])("response cap, answer $answer", ({ streamed, refused }) => {
  it("refuses a GET answer larger than the cap with a LookupError naming the cap", async () => {
    const server = await startServer(seedBig(4 * CAP));
    server.streamObjectAnswers(streamed);
    const transport = createKubeTransport(server.kubeConfig(), { maxResponseBytes: CAP });
    const failure = transport.getJson(BIG_PATH, {});
    await expect(failure).rejects.toBeInstanceOf(LookupError);
    await expect(failure).rejects.toThrow(refused);
    await expect(failure).rejects.toThrow(/larger than the 65536-byte cap/);
    // An answer under the cap on the same transport is read as usual.
    const small = await transport.getJson("/apis/apps/v1/namespaces/demo/statefulsets/small", {});
    expect(small.status).toBe(200);
  });

  it("makes a live read unavailable, with the cap in its reason", async () => {
    const server = await startServer(seedBig(4 * CAP));
    server.streamObjectAnswers(streamed);
    // Pages of one object, so the list itself stays under the cap and the source syncs.
    const h = await startSource(server, { maxResponseBytes: 8 * CAP, pageSize: 1 });
    server.update("statefulsets", "demo", "big", (sts) => {
      (sts["metadata"] as { annotations: Record<string, string> }).annotations["note"] = "x".repeat(
        16 * CAP,
      );
    });
    const result = await h.source.lookupLive("demo", "big");
    expect(result.status).toBe("unavailable");
    expect(result.status === "unavailable" && result.reason).toMatch(/-byte cap; not read/);
  });

  it("keeps a list page over the cap from syncing the cache, and says why", async () => {
    const server = await startServer(seedBig(4 * CAP));
    server.streamObjectAnswers(streamed);
    const h = await startSource(server, { maxResponseBytes: CAP }, { sync: false });
    void h.source.start();
    await expect
      .poll(() => h.logs.some((l) => /listing statefulsets failed/.test(l.msg)))
      .toBe(true);
    const failed = h.logs.find((l) => /listing statefulsets failed/.test(l.msg));
    expect(failed?.err?.message).toMatch(/-byte cap; not read/);
    expect(h.source.isReady()).toBe(false);
  });
});
