// `stsguard serve --config` reloads its configuration when a kubelet-style ConfigMap mount swaps
// its `..data` symlink: the built CLI in a child process, a real directory watch, and requests
// in flight the whole time.
import { createHash } from "node:crypto";
import { mkdir, rename, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { makeTempDir, runBuiltCli } from "../cli/built-cli.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { postJson, requestHttp, startSlowPost, type Answer } from "../server/https-client.js";
import { startServeProcess, type ServeProcess } from "../server/serve-process.js";

const WARN = "mode: warn\n";
const ENFORCE = "# reviewed in PLAT-200\nmode: enforce\n";
const BAD = "mode: enforce\nnamespaces:\n  - names: [team-a]\n    mode: strict\n";
const MONITOR = "mode: monitor\n";

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** What the kubelet does for a ConfigMap volume: a new timestamped directory, then one rename. */
async function publish(dir: string, stamp: string, text: string): Promise<void> {
  const data = path.join(dir, `..2026_12_01_${stamp}`);
  await mkdir(data);
  await writeFile(path.join(data, "config.yaml"), text);
  await symlink(path.basename(data), path.join(dir, "..data_tmp"));
  await rename(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
}

const REVIEW = {
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "reload",
    kind: { group: "", version: "v1", kind: "Service" },
    resource: { group: "", version: "v1", resource: "services" },
    namespace: "team-a",
    name: "web-5",
    operation: "CREATE",
    userInfo: { username: "alice", groups: [] },
    object: aService({ namespace: "team-a", podName: "web-5" }),
  },
};

type Verdict = "warned" | "denied" | "silent";

function verdictOf(answer: Answer): Verdict | `bad: ${string}` {
  if (answer.status !== 200) return `bad: HTTP ${answer.status} ${answer.text}`;
  const response = (answer.json as { response?: { allowed?: boolean; warnings?: string[] } })
    .response;
  if (response?.allowed === false) return "denied";
  if (response?.allowed === true) return response.warnings?.length ? "warned" : "silent";
  return `bad: ${answer.text}`;
}

describe("serve reloads its configuration on a ..data symlink swap", () => {
  let serve: ServeProcess;
  let configDir: string;
  const stdout = (): string => serve.output().stdout;
  let port = 0;
  let metricsPort = 0;
  let ca = "";
  const seen: string[] = [];
  let stopLoad = false;
  let load: Promise<void> = Promise.resolve();

  const validate = async (): Promise<Verdict | `bad: ${string}`> =>
    verdictOf(await postJson(port, ca, "/validate", REVIEW));
  const metrics = async (): Promise<string> => (await requestHttp(metricsPort, "/metrics")).text;

  beforeAll(async () => {
    // Builds dist/ first when it is stale (a lone `vitest run` of this file).
    await runBuiltCli(["--version"]);
    serve = await startServeProcess(
      ["--config", "config/config.yaml"],
      {},
      {
        sourceArgs: ["--manifests", "manifests"],
        prepare: async (dir) => {
          await mkdir(path.join(dir, "config"));
          await publish(path.join(dir, "config"), "00_00_00.1", WARN);
          await symlink("..data/config.yaml", path.join(dir, "config", "config.yaml"));
          await mkdir(path.join(dir, "manifests"));
          await writeFile(
            path.join(dir, "manifests", "web.yaml"),
            [
              { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
              aStatefulSet({ name: "web", namespace: "team-a", replicas: 2 }),
            ]
              .map((d) => stringify(d))
              .join("---\n"),
          );
        },
      },
    );
    configDir = path.join(serve.dir, "config");
    ({ port, metricsPort, ca } = serve);
    // Requests in flight for the whole test: four clients back to back.
    load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stopLoad) seen.push(await validate());
      }),
    ).then(() => undefined);
  }, 120_000);

  afterAll(async () => {
    stopLoad = true;
    await load;
    await serve.dispose();
  });

  it("starts with the mounted configuration and publishes its hash", async () => {
    expect(await validate()).toBe("warned");
    expect(await metrics()).toContain(`stsguard_config_info{hash="${sha256(WARN)}"} 1`);
  });

  it("applies a valid change within seconds, without a restart or a failed request", async () => {
    const slow = startSlowPost(port, ca, "/validate", JSON.stringify(REVIEW));
    await slow.sent;
    await publish(configDir, "00_01_00.2", ENFORCE);
    await waitFor("enforce to apply", async () => (await validate()) === "denied", 5_000);
    slow.finish();
    expect(verdictOf(await slow.answer)).toMatch(/^(warned|denied)$/);
    const text = await metrics();
    expect(text).toContain('stsguard_config_reloads_total{outcome="applied"} 1');
    expect(text).toContain(`stsguard_config_info{hash="${sha256(ENFORCE)}"} 1`);
    expect(text).not.toContain(sha256(WARN));
    await waitFor(
      "the reload's log line",
      () => stdout().includes(`"hash":"${sha256(ENFORCE)}"`),
      5_000,
    );
    expect(stdout()).toContain('"msg":"configuration reloaded"');
  });

  it("rejects an invalid change, names the key, and keeps answering with the old one", async () => {
    await publish(configDir, "00_02_00.3", BAD);
    // The log line and the metric travel on different channels (a pipe, an HTTP scrape): wait
    // for both, in either order.
    await waitFor(
      "the rejection",
      async () =>
        (await metrics()).includes('stsguard_config_reloads_total{outcome="rejected"} 1') &&
        stdout().includes("configuration rejected"),
      5_000,
    );
    const line = stdout()
      .split("\n")
      .find((l) => l.includes("configuration rejected"));
    expect(line).toBeDefined();
    expect(JSON.parse(line ?? "{}")).toMatchObject({ level: "error" });
    expect(line).toContain(
      "config.yaml: namespaces[0].mode: must be one of enforce, warn, monitor, off",
    );
    expect(await validate()).toBe("denied");
    expect(await metrics()).toContain(`stsguard_config_info{hash="${sha256(ENFORCE)}"} 1`);
  });

  it("applies the next valid change after a rejected one", async () => {
    await publish(configDir, "00_03_00.4", MONITOR);
    await waitFor("monitor to apply", async () => (await validate()) === "silent", 5_000);
    expect(await metrics()).toContain('stsguard_config_reloads_total{outcome="applied"} 2');
  });

  it("never failed a request in flight", async () => {
    stopLoad = true;
    await load;
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((v) => v.startsWith("bad"))).toEqual([]);
    for (const verdict of ["warned", "denied", "silent"]) expect(seen).toContain(verdict);
  });
});

describe("serve with a bad configuration file", () => {
  it("does not start, and names the file and the key", async () => {
    const temp = await makeTempDir("config-bad-");
    try {
      await writeFile(path.join(temp.dir, "stsguard.yaml"), BAD);
      await mkdir(path.join(temp.dir, "manifests"));
      const run = await runBuiltCli(
        ["serve", "--manifests", "manifests", "--config", "stsguard.yaml", "--port", "0"],
        { cwd: temp.dir },
      );
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("stsguard.yaml: namespaces[0].mode: must be one of");
    } finally {
      await temp.remove();
    }
  });
});
