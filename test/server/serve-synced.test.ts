// runServe tells its caller when the StatefulSet source has synced (ServeEnvironment.onSynced):
// the CLI tunes V8 for the request path then, after start-up's one-off work.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir } from "../certs/tls-probes.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";
import { repoRoot } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { DEFAULT_CONNECTION_LIMITS } from "../../src/server/limits.js";
import { runServe, type ServeSettings } from "../../src/server/serve.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const settings = (source: Partial<ServeSettings>): ServeSettings => ({
  host: "127.0.0.1",
  port: 0,
  metricsPort: null,
  tlsCertFile: undefined,
  tlsKeyFile: undefined,
  manifestsDir: undefined,
  kubeconfig: undefined,
  context: undefined,
  configFile: undefined,
  kubeVersion: undefined,
  logLevel: "silent",
  drainDelayMs: 0,
  shutdownTimeoutMs: 1_000,
  limits: DEFAULT_CONNECTION_LIMITS,
  ...source,
});

/** runServe in a fresh directory (development certificates go there), stopped after the test. */
async function serve(source: Partial<ServeSettings>, onSynced: () => void): Promise<void> {
  const temp = await makeTempDir("synced");
  let stop = (): void => undefined;
  const stopRequested = new Promise<string>((resolve) => {
    stop = () => {
      resolve("SIGTERM");
    };
  });
  const running = runServe(settings(source), {
    cwd: temp.dir,
    env: {},
    stderr: { write: () => true },
    logDestination: { write: () => undefined },
    stopRequested,
    onSynced,
  });
  cleanups.push(async () => {
    stop();
    await running;
    await temp.remove();
  });
}

describe("runServe's onSynced", () => {
  it("is called once for manifests, which are synced as soon as they are read", async () => {
    let calls = 0;
    await serve({ manifestsDir: join(repoRoot, "examples/manifests") }, () => {
      calls += 1;
    });
    await waitFor("onSynced", () => calls === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toBe(1);
  });

  // Why a test API server: its lists fail with 500 until the test lets them succeed.
  it("waits for a cluster's lists: not while they fail, once when they succeed", async () => {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    api.failLists(500);
    const temp = await makeTempDir("synced-kubeconfig");
    cleanups.push(temp.remove);
    const kubeconfig = join(temp.dir, "kubeconfig");
    await writeFile(kubeconfig, renderKubeconfig(api.url));
    let calls = 0;
    await serve({ kubeconfig, kubeVersion: { major: 1, minor: 31 } }, () => {
      calls += 1;
    });
    await waitFor(
      "two failed lists of StatefulSets",
      () => api.requests.filter((r) => r.path.endsWith("/statefulsets") && !r.watch).length >= 2,
    );
    expect(calls).toBe(0);
    api.failLists(null);
    await waitFor("onSynced after the lists succeed", () => calls === 1, 10_000);
  });
});
