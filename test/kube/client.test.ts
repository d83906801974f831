import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, LookupError } from "../../src/errors.js";
import {
  createKubeConfigForServer,
  createKubeTransport,
  loadKubeConfig,
  type KubeConfig,
} from "../../src/kube/client.js";
import { generateDevCertificates } from "../../src/certs/generate.js";
import { makeTestCertificates } from "../helpers/tls.js";

const tempDirs: string[] = [];
const servers: (http.Server | https.Server)[] = [];

afterEach(async () => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "stsguard-kube-"));
  tempDirs.push(dir);
  return dir;
}

interface KubeconfigEntry {
  readonly name: string;
  readonly server: string;
  readonly token?: string;
}

function writeKubeconfig(
  dir: string,
  file: string,
  entries: KubeconfigEntry[],
  current?: string,
): string {
  const lines = ["apiVersion: v1", "kind: Config", "clusters:"];
  for (const e of entries) {
    lines.push(`- name: ${e.name}`, "  cluster:", `    server: ${e.server}`);
    if (e.server.startsWith("http:")) lines.push("    insecure-skip-tls-verify: true");
  }
  lines.push("users:");
  for (const e of entries)
    lines.push(`- name: ${e.name}`, "  user:", `    token: ${e.token ?? `token-${e.name}`}`);
  lines.push("contexts:");
  for (const e of entries)
    lines.push(`- name: ${e.name}`, "  context:", `    cluster: ${e.name}`, `    user: ${e.name}`);
  if (current) lines.push(`current-context: ${current}`);
  const path = join(dir, file);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

function makeServiceAccountDir(token = "sa-token"): string {
  const dir = makeTempDir();
  writeFileSync(join(dir, "token"), token);
  writeFileSync(join(dir, "ca.crt"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  return dir;
}

function serverOf(kubeConfig: KubeConfig): string | undefined {
  return kubeConfig.getCurrentCluster()?.server;
}

async function authorizationOf(kubeConfig: KubeConfig): Promise<unknown> {
  const options: { headers?: Record<string, unknown> } = {};
  await kubeConfig.applyToHTTPSOptions(options);
  return options.headers?.["Authorization"];
}

describe("loadKubeConfig", () => {
  it.each([
    {
      name: "in a pod: the service host and port",
      host: "10.96.0.1",
      port: "443",
      expected: "https://10.96.0.1:443",
    },
    {
      name: "in a pod: an IPv6 service host in brackets",
      host: "fd00:10:96::1",
      port: "6443",
      expected: "https://[fd00:10:96::1]:6443",
    },
    {
      name: "in a pod without a port: 443",
      host: "10.0.0.1",
      port: undefined,
      expected: "https://10.0.0.1:443",
    },
  ])("$name", async ({ host, port, expected }) => {
    const serviceAccountDir = makeServiceAccountDir("rotating-token");
    const kubeConfig = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port },
      serviceAccountDir,
    });
    expect(serverOf(kubeConfig)).toBe(expected);
    expect(kubeConfig.getCurrentCluster()?.caFile).toBe(join(serviceAccountDir, "ca.crt"));
    expect(await authorizationOf(kubeConfig)).toBe("Bearer rotating-token");
  });

  it.each([
    {
      name: "--kubeconfig wins over the in-cluster config",
      request: (dir: string) => ({
        kubeconfigPath: writeKubeconfig(
          dir,
          "config",
          [{ name: "a", server: "https://a.example:6443" }],
          "a",
        ),
        env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" },
      }),
      expected: "https://a.example:6443",
    },
    {
      name: "--context picks a context of the kubeconfig",
      request: (dir: string) => ({
        kubeconfigPath: writeKubeconfig(
          dir,
          "config",
          [
            { name: "a", server: "https://a.example" },
            { name: "b", server: "https://b.example" },
          ],
          "a",
        ),
        context: "b",
        env: {},
      }),
      expected: "https://b.example",
    },
    {
      name: "--context without --kubeconfig reads KUBECONFIG, not the pod's config",
      request: (dir: string) => ({
        context: "b",
        env: {
          KUBERNETES_SERVICE_HOST: "10.96.0.1",
          KUBECONFIG: writeKubeconfig(dir, "config", [
            { name: "a", server: "https://a.example" },
            { name: "b", server: "https://b.example" },
          ]),
        },
      }),
      expected: "https://b.example",
    },
    {
      name: "KUBECONFIG files merge, the first definition and current-context win, missing files are skipped",
      request: (dir: string) => ({
        env: {
          KUBECONFIG: [
            join(dir, "missing"),
            writeKubeconfig(dir, "one", [{ name: "a", server: "https://first.example" }], "a"),
            writeKubeconfig(dir, "two", [{ name: "a", server: "https://second.example" }], "a"),
          ].join(delimiter),
        },
      }),
      expected: "https://first.example",
    },
    {
      name: "~/.kube/config when nothing else is set",
      request: (dir: string) => {
        mkdirSync(join(dir, ".kube"));
        writeKubeconfig(
          join(dir, ".kube"),
          "config",
          [{ name: "h", server: "https://home.example" }],
          "h",
        );
        return { env: { HOME: dir } };
      },
      expected: "https://home.example",
    },
  ])("$name", ({ request, expected }) => {
    expect(serverOf(loadKubeConfig(request(makeTempDir())))).toBe(expected);
  });

  it.each([
    {
      name: "an unknown --context, listing the known ones",
      request: (dir: string) => ({
        kubeconfigPath: writeKubeconfig(
          dir,
          "config",
          [
            { name: "a", server: "https://a" },
            { name: "b", server: "https://b" },
          ],
          "a",
        ),
        context: "prod",
        env: {},
      }),
      message: /--context prod: no such context .*\(known: a, b\)/,
    },
    {
      name: "a --kubeconfig that does not exist",
      request: (dir: string) => ({ kubeconfigPath: join(dir, "nope"), env: {} }),
      message: /--kubeconfig .*nope: file does not exist/,
    },
    {
      name: "a kubeconfig that is not YAML",
      request: (dir: string) => {
        writeFileSync(join(dir, "bad"), "clusters: [\n");
        return { kubeconfigPath: join(dir, "bad"), env: {} };
      },
      message: /kubeconfig .*bad could not be read/,
    },
    {
      name: "a kubeconfig without a current context",
      request: (dir: string) => ({
        kubeconfigPath: writeKubeconfig(dir, "config", [{ name: "a", server: "https://a" }]),
        env: {},
      }),
      message: /no current cluster \(set current-context or pass --context\)/,
    },
    {
      name: "no configuration anywhere",
      request: (dir: string) => ({ env: { HOME: dir } }),
      message: /no Kubernetes configuration: not running in a cluster/,
    },
    {
      name: "a pod without a service account token",
      request: (dir: string) => ({
        env: { KUBERNETES_SERVICE_HOST: "10.96.0.1" },
        serviceAccountDir: dir,
      }),
      message: /KUBERNETES_SERVICE_HOST is set .*token does not exist/,
    },
  ])("throws a ConfigError for $name", ({ request, message }) => {
    const load = () => loadKubeConfig(request(makeTempDir()));
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  // The kubeconfig's bearer token reaching the API server is proven in the e2e suite, where serve
  // and audit run with ServiceAccount tokens and a real API server names that user in its 403.
});

/** A one-route server whose handler the test writes, for wire details the fake does not vary. */
async function startRawServer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("transport", () => {
  it("reassembles watch lines split across chunks, including a last line without a newline", async () => {
    const url = await startRawServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write('{"type":"ADDED","obj');
      setTimeout(() => {
        res.write('ect":{}}\n\n{"type":"BOOKMARK"}\n{"type":"DEL');
        res.end('ETED"}');
      }, 20);
    });
    const lines: string[] = [];
    const transport = createKubeTransport(createKubeConfigForServer(url, { skipTLSVerify: true }));
    const end = await transport.streamLines("/w", {}, (line) => lines.push(line));
    expect(end).toEqual({ kind: "ended" });
    expect(lines).toEqual([
      '{"type":"ADDED","object":{}}',
      '{"type":"BOOKMARK"}',
      '{"type":"DELETED"}',
    ]);
  });

  it("rejects a stream whose connection breaks before the response ends", async () => {
    const url = await startRawServer((_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED"}\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const transport = createKubeTransport(createKubeConfigForServer(url, { skipTLSVerify: true }));
    const lines: string[] = [];
    await expect(transport.streamLines("/w", {}, (line) => lines.push(line))).rejects.toThrow(
      LookupError,
    );
    expect(lines).toEqual(['{"type":"ADDED"}']);
  });

  it("fails the stream, not the process, when the line callback throws", async () => {
    const url = await startRawServer((_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED"}\n');
    });
    const transport = createKubeTransport(createKubeConfigForServer(url, { skipTLSVerify: true }));
    const stream = transport.streamLines("/w", {}, () => {
      throw new Error("callback bug");
    });
    await expect(stream).rejects.toThrow(/callback bug/);
  });

  it.each([
    {
      name: "a refused stream resolves with its status and Status body",
      status: 410,
      body: { kind: "Status", code: 410 },
    },
    { name: "a stream answered with 500", status: 500, body: null },
  ])("$name", async ({ status, body }) => {
    const url = await startRawServer((_req, res) => {
      res.writeHead(status);
      res.end(body ? JSON.stringify(body) : "oops");
    });
    const transport = createKubeTransport(createKubeConfigForServer(url, { skipTLSVerify: true }));
    expect(await transport.streamLines("/w", {}, () => undefined)).toEqual({
      kind: "rejected",
      status,
      body,
    });
  });

  it("rejects with a LookupError naming the URL when nothing listens", async () => {
    const url = await startRawServer(() => undefined);
    const server = servers.pop();
    await new Promise((resolve) => server?.close(resolve));
    const transport = createKubeTransport(createKubeConfigForServer(url, { skipTLSVerify: true }));
    await expect(transport.getJson("/version", {})).rejects.toThrow(
      new RegExp(`GET ${url}/version: .*ECONNREFUSED`),
    );
  });

  it("refuses plain HTTP unless the kubeconfig skips TLS verification, as client-node does", async () => {
    const transport = createKubeTransport(createKubeConfigForServer("http://127.0.0.1:1"));
    await expect(transport.getJson("/version", {})).rejects.toThrow(/HTTP protocol is not allowed/);
  });
});

describe("transport connections", () => {
  /** A server answering `{}` to anything, counting the connections it accepted. */
  async function countingServer(
    tls: { cert: string; key: string } | null,
  ): Promise<{ url: string; connections: () => number }> {
    let connections = 0;
    const handler: http.RequestListener = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    };
    const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    server.on(tls ? "secureConnection" : "connection", () => {
      connections += 1;
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `${tls ? "https" : "http"}://127.0.0.1:${port}`, connections: () => connections };
  }

  it("keeps one connection for requests one after another (client-node made an agent per request)", async () => {
    const server = await countingServer(null);
    const transport = createKubeTransport(
      createKubeConfigForServer(server.url, { skipTLSVerify: true }),
    );
    for (let i = 0; i < 5; i += 1) await transport.getJson("/api/v1/services", {});
    expect(server.connections()).toBe(1);
  });

  it("keeps one TLS connection while the CA stays the same, and a new one once it changes", async () => {
    const certs = await makeTestCertificates();
    const other = await generateDevCertificates({ dnsNames: ["other"], validDays: 2 });
    const server = await countingServer({ cert: certs.cert, key: certs.key });
    const dir = makeTempDir();
    const caFile = join(dir, "ca.crt");
    writeFileSync(caFile, certs.caCert);
    const kubeconfigPath = join(dir, "config");
    writeFileSync(
      kubeconfigPath,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: server.url, "certificate-authority": caFile } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
        "current-context": "c",
      }),
    );
    const transport = createKubeTransport(loadKubeConfig({ kubeconfigPath, env: {} }));
    for (let i = 0; i < 5; i += 1) await transport.getJson("/api/v1/services", {});
    expect(server.connections()).toBe(1);
    // A CA bundle rotated on disk (the old CA and a new one): read again, a new agent.
    writeFileSync(caFile, `${certs.caCert}${other.caCert}`);
    for (let i = 0; i < 3; i += 1) await transport.getJson("/api/v1/services", {});
    expect(server.connections()).toBe(2);
  });
});
