// `stsguard serve` as users run it: the built CLI (dist/cli.js, made by `npm run build`, which
// `npm test` runs first) in a child process, in a fresh working directory.
import { execFile, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "../certs/tls-probes.js";
import { loadFixture, repoRoot } from "../helpers/objects.js";
import { requestHttp, startSlowPost } from "./https-client.js";
import { startServeProcess, type ServeProcess } from "./serve-process.js";
import { waitFor } from "../helpers/wait-for.js";

const run = promisify(execFile);
const cli = join(repoRoot, "dist", "cli.js");
const curl = ["/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"].find((p) => existsSync(p));

/** No kubeconfig anywhere: HOME is an empty directory and no cluster variables are set. */
function isolatedEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home, ...extra };
}

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion (startup failures and --help end at once). */
async function runBuiltCli(
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<Exit> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      cwd,
      env,
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error: unknown) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? null, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
});

describe("stsguard serve --manifests in a fresh directory", () => {
  let serve: ServeProcess;
  let temp: { dir: string };
  let child: ChildProcess;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let port = 0;
  let metricsPort = 0;

  beforeAll(async () => {
    // A short drain, so the SIGTERM test below sees the listener close soon after it.
    serve = await startServeProcess([], { STSGUARD_DRAIN_DELAY: "500ms" });
    ({ child, exited, port, metricsPort } = serve);
    temp = { dir: serve.dir };
  }, 30_000);

  afterAll(async () => {
    await serve.dispose();
  });

  it("makes development certificates under certs/", () => {
    for (const file of ["ca.crt", "tls.crt", "tls.key"]) {
      expect(existsSync(join(temp.dir, "certs", file))).toBe(true);
    }
    expect(port).toBeGreaterThan(0);
    expect(metricsPort).toBeGreaterThan(0);
  });

  it("prints a curl example that gets the out-of-range ordinal denied", async () => {
    const line = serve
      .output()
      .stderr.split("\n")
      .find((l) => l.startsWith("curl "));
    expect(line).toMatch(/--cacert certs\/ca\.crt/);
    expect(line).toContain(`https://127.0.0.1:${port}/validate`);
    const output = curl
      ? (await run("sh", ["-c", line ?? ""], { cwd: temp.dir, timeout: 10_000 })).stdout
      : await replayCurl(line ?? "", temp.dir);
    const review = JSON.parse(output) as {
      response: { allowed: boolean; status: { code: number; message: string } };
    };
    expect(review.response.allowed).toBe(false);
    expect(review.response.status.code).toBe(403);
    expect(review.response.status.message).toMatch(
      /^ordinal-out-of-range: Service default\/web-3 selects pod web-3, but StatefulSet web has 3 replicas/,
    );
  });

  it("is ready, and logs JSON lines on stdout", async () => {
    expect((await requestHttp(metricsPort, "/readyz")).status).toBe(200);
    const { stdout } = serve.output();
    const lines = stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(stdout).toContain('"msg":"stsguard webhook listening"');
  });

  it("on SIGTERM finishes the in-flight request, refuses new connections and exits 0", async () => {
    const ca = await readFile(join(temp.dir, "certs", "ca.crt"), "utf8");
    const body = JSON.stringify(loadFixture("service-create-loadbalancer.at-validating"));
    const slow = startSlowPost(port, ca, "/validate", body);
    await slow.sent;
    await new Promise((resolve) => setTimeout(resolve, 100));

    child.kill("SIGTERM");
    await waitFor("the listener to close", () => isRefused(port), 10_000);
    expect(child.exitCode).toBeNull();
    slow.finish();
    const answer = await slow.answer;
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ response: { allowed: false } });

    expect(await exited).toEqual({ code: 0, signal: null });
    const { stdout } = serve.output();
    expect(stdout).toContain('"msg":"shutting down: draining, then finishing in-flight requests"');
    expect(stdout).toContain('"msg":"stsguard webhook stopped"');
  });
});

describe("stsguard serve --help", () => {
  it("lists every flag and its environment variable", async () => {
    const { code, stdout } = await runBuiltCli(
      ["serve", "--help"],
      repoRoot,
      isolatedEnv(repoRoot),
    );
    expect(code).toBe(0);
    const pairs = [
      ["--port", "STSGUARD_PORT"],
      ["--host", "STSGUARD_HOST"],
      ["--tls-cert", "STSGUARD_TLS_CERT"],
      ["--tls-key", "STSGUARD_TLS_KEY"],
      ["--client-ca", "STSGUARD_CLIENT_CA"],
      ["--manifests", "STSGUARD_MANIFESTS"],
      ["--kubeconfig", "STSGUARD_KUBECONFIG"],
      ["--context", "STSGUARD_CONTEXT"],
      ["--config", "STSGUARD_CONFIG"],
      ["--metrics-port", "STSGUARD_METRICS_PORT"],
      ["--kube-version", "STSGUARD_KUBE_VERSION"],
      ["--log-level", "STSGUARD_LOG_LEVEL"],
      ["--drain-delay", "STSGUARD_DRAIN_DELAY"],
      ["--shutdown-timeout", "STSGUARD_SHUTDOWN_TIMEOUT"],
      ["--handshake-timeout", "STSGUARD_HANDSHAKE_TIMEOUT"],
      ["--headers-timeout", "STSGUARD_HEADERS_TIMEOUT"],
      ["--request-timeout", "STSGUARD_REQUEST_TIMEOUT"],
      ["--keep-alive-timeout", "STSGUARD_KEEP_ALIVE_TIMEOUT"],
      ["--max-connections", "STSGUARD_MAX_CONNECTIONS"],
      ["--body-budget", "STSGUARD_BODY_BUDGET"],
      ["--body-budget-wait", "STSGUARD_BODY_WAIT_MS"],
    ];
    for (const [flag, env] of pairs) {
      expect(stdout).toMatch(new RegExp(`^  ${flag} <`, "m"));
      expect(stdout).toMatch(new RegExp(`^  ${env} +${flag}$`, "m"));
    }
  });
});

describe("stsguard serve refuses to start on bad input, with exit code 2", () => {
  let temp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    temp = await makeTempDir("serve-fail");
    await mkdir(join(temp.dir, "home"));
    await mkdir(join(temp.dir, "broken"));
    await writeFile(join(temp.dir, "broken", "sts.yaml"), "kind: StatefulSet\nmetadata: [\n");
  });

  afterAll(async () => {
    await temp.remove();
  });

  const rows: { name: string; args: string[]; env?: Record<string, string>; stderr: RegExp }[] = [
    {
      name: "no --manifests and no cluster configured",
      args: [],
      stderr: /no Kubernetes configuration.*pass --manifests|stsguard serve --manifests DIR/,
    },
    {
      name: "a --port that is not a number",
      args: ["--manifests", "broken", "--port", "https"],
      stderr: /--port: "https" is not a port number/,
    },
    {
      name: "a STSGUARD_PORT that is not a number",
      args: ["--manifests", "broken"],
      env: { STSGUARD_PORT: "99999" },
      stderr: /STSGUARD_PORT: "99999" is not a port number/,
    },
    {
      name: "--tls-cert without --tls-key",
      args: ["--manifests", "examples", "--tls-cert", "tls.crt"],
      stderr: /--tls-cert and --tls-key .* go together/,
    },
    {
      name: "a certificate file that does not exist",
      args: ["--manifests", "examples", "--tls-cert", "no.crt", "--tls-key", "no.key"],
      stderr: /cannot read TLS certificate file .*no\.crt/,
    },
    {
      name: "a STSGUARD_CLIENT_CA file that does not exist",
      args: ["--manifests", "examples"],
      env: { STSGUARD_CLIENT_CA: "no-client-ca.crt" },
      stderr: /cannot read TLS client CA file .*no-client-ca\.crt/,
    },
    {
      name: "a manifest that does not parse",
      args: ["--manifests", "broken"],
      stderr: /--manifests broken: broken\/sts\.yaml:\d+/,
    },
    {
      name: "both --manifests and --kubeconfig",
      args: ["--manifests", "examples", "--kubeconfig", "kc.yaml"],
      stderr: /--manifests reads StatefulSets from files, --kubeconfig\/--context from a cluster/,
    },
    {
      name: "an unknown log level",
      args: ["--manifests", "examples", "--log-level", "loud"],
      stderr: /--log-level: "loud" is not a log level/,
    },
    {
      name: "a --drain-delay that is not a duration",
      args: ["--manifests", "examples", "--drain-delay", "soon"],
      stderr: /--drain-delay: "soon" is not a duration/,
    },
    {
      name: "a zero STSGUARD_HEADERS_TIMEOUT",
      args: ["--manifests", "examples"],
      env: { STSGUARD_HEADERS_TIMEOUT: "0s" },
      stderr: /STSGUARD_HEADERS_TIMEOUT: "0s" is not a duration above 0/,
    },
    {
      name: "a --max-connections that is not a count",
      args: ["--manifests", "examples", "--max-connections", "-1"],
      stderr: /--max-connections: "-1" is not a positive whole number/,
    },
    {
      name: "a --body-budget that is not a byte count",
      args: ["--manifests", "examples", "--body-budget", "32MB"],
      stderr: /--body-budget: "32MB" is not a byte count \(e\.g\. 33554432, 32Mi, 1Gi\)/,
    },
    {
      name: "a STSGUARD_BODY_WAIT_MS that is not a number",
      args: ["--manifests", "examples"],
      env: { STSGUARD_BODY_WAIT_MS: "2s" },
      stderr: /STSGUARD_BODY_WAIT_MS: "2s" is not a number of milliseconds/,
    },
    {
      name: "a --kube-version that is not a version",
      args: ["--manifests", "examples", "--kube-version", "latest"],
      stderr: /--kube-version: "latest" is not a Kubernetes version/,
    },
  ];

  it.each(rows)("$name", async ({ args, env, stderr }) => {
    await mkdir(join(temp.dir, "examples"), { recursive: true });
    const result = await runBuiltCli(
      ["serve", "--host", "127.0.0.1", ...args],
      temp.dir,
      isolatedEnv(join(temp.dir, "home"), {
        STSGUARD_PORT: "0",
        STSGUARD_METRICS_PORT: "0",
        ...env,
      }),
    );
    expect(result.stderr).toMatch(stderr);
    expect(result.code).toBe(2);
  });
});

function isRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      resolve(error.code === "ECONNREFUSED");
    });
  });
}

/** Where there is no curl binary: sends what the printed command would send. */
async function replayCurl(line: string, cwd: string): Promise<string> {
  const data = /--data '((?:[^']|'\\'')*)'/.exec(line)?.[1]?.replaceAll(`'\\''`, "'") ?? "";
  const url = new URL(/(https:\/\/\S+)$/.exec(line)?.[1] ?? "");
  const ca = await readFile(join(cwd, /--cacert (\S+)/.exec(line)?.[1] ?? ""), "utf8");
  const { postJson } = await import("./https-client.js");
  return (await postJson(Number(url.port), ca, url.pathname, data)).text;
}
