import { X509Certificate } from "node:crypto";
import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { Agent, createServer, request, type Server } from "node:https";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateDevCertificates, type DevCertificates } from "../../src/certs/generate.js";
import { ConfigError } from "../../src/errors.js";
import {
  TLS_SERVER_OPTIONS,
  watchTlsFiles,
  type TlsReloadEvent,
  type TlsWatcher,
} from "../../src/server/tls.js";
import { createTlsLayout, type TlsLayout, type TlsLayoutName } from "./tls-layouts.js";
import {
  captureLogs,
  closeServer,
  fetchServedFingerprint,
  listenOnLoopback,
  makeTempDir,
  waitFor,
  type LogCapture,
} from "./tls-probes.js";

const LOCAL = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };
const FAST = { pollIntervalMs: 100, debounceMs: 20, settleMs: 300 };
const WARN = 40;
const DEBUG = 20;

let a: DevCertificates;
let b: DevCertificates;
let c: DevCertificates;
let trusted: string[];

beforeAll(async () => {
  [a, b, c] = await Promise.all([
    generateDevCertificates(LOCAL),
    generateDevCertificates(LOCAL),
    generateDevCertificates(LOCAL),
  ]);
  trusted = [a.caCert, b.caCert, c.caCert];
});

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

interface Harness {
  readonly port: number;
  readonly server: Server;
  readonly layout: TlsLayout;
  readonly logs: LogCapture;
  readonly reloads: TlsReloadEvent[];
  readonly watcher: TlsWatcher;
  /** Resolves when a /slow request has reached the handler; the handler waits for `release`. */
  readonly slowRequestArrived: Promise<void>;
  release(): void;
  served(): Promise<string>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function startHarness(
  layoutName: TlsLayoutName,
  options: { pollIntervalMs: number; debounceMs: number; settleMs?: number } = FAST,
): Promise<Harness> {
  const temp = await makeTempDir("tls");
  cleanups.push(temp.remove);
  const layout = createTlsLayout(layoutName, temp.dir);
  await layout.install(a);

  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let arrived = (): void => undefined;
  const slowRequestArrived = new Promise<void>((resolve) => (arrived = resolve));
  // No certificate here: watchTlsFiles installs the first one.
  const server = createServer({ ...TLS_SERVER_OPTIONS, keepAlive: true }, (req, res) => {
    if (req.url === "/slow") {
      arrived();
      void gate.then(() => res.end("slow done"));
      return;
    }
    res.end("ok");
  });
  const logs = captureLogs();
  const reloads: TlsReloadEvent[] = [];
  const watcher = watchTlsFiles({
    certFile: layout.certFile,
    keyFile: layout.keyFile,
    server,
    logger: logs.logger,
    onReload: (event) => reloads.push(event),
    ...options,
  });
  const port = await listenOnLoopback(server);
  cleanups.push(async () => {
    release();
    watcher.close();
    await closeServer(server);
  });
  return {
    port,
    server,
    layout,
    logs,
    reloads,
    watcher,
    slowRequestArrived,
    release,
    served: () => fetchServedFingerprint(port, trusted),
  };
}

function getOnAgent(
  port: number,
  agent: Agent,
  path: string,
): Promise<{ status: number; body: string; fingerprint: string; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", servername: "localhost", port, path, agent },
      (res) => {
        if (!(res.socket instanceof TLSSocket)) {
          reject(new Error("response did not arrive over TLS"));
          return;
        }
        const fingerprint = res.socket.getPeerCertificate().fingerprint256;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          resolve({
            status: res.statusCode ?? 0,
            body,
            fingerprint,
            reusedSocket: req.reusedSocket,
          });
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("watchTlsFiles rotation without a restart", () => {
  it.each<{ name: string; layout: TlsLayoutName }>([
    {
      name: "a Kubernetes Secret volume (..data symlink swap)",
      layout: "kubernetes-secret-volume",
    },
    { name: "files replaced by rename", layout: "renamed-files" },
  ])(
    "serves the new certificate to new connections after $name, and in-flight requests finish",
    async ({ layout }) => {
      const h = await startHarness(layout);
      expect(await h.served()).toBe(fingerprintOf(a.cert));

      const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: trusted });
      cleanups.push(() => {
        agent.destroy();
        return Promise.resolve();
      });
      const inFlight = getOnAgent(h.port, agent, "/slow");
      await h.slowRequestArrived;

      await h.layout.install(b);
      await waitFor("new connections to get certificate B", async () => {
        return (await h.served()) === fingerprintOf(b.cert);
      });

      h.release();
      const slow = await inFlight;
      expect(slow).toMatchObject({
        status: 200,
        body: "slow done",
        fingerprint: fingerprintOf(a.cert),
      });
      const next = await getOnAgent(h.port, agent, "/fast");
      expect(next).toMatchObject({ status: 200, body: "ok", reusedSocket: true });
      expect(next.fingerprint).toBe(fingerprintOf(a.cert));

      expect(h.reloads.at(-1)).toEqual({
        outcome: "applied",
        fingerprint256: fingerprintOf(b.cert),
      });
      expect(h.logs.records).toContainEqual(
        expect.objectContaining({
          msg: "reloaded TLS certificate",
          fingerprint256: fingerprintOf(b.cert),
        }),
      );
    },
  );

  it("notices a Secret volume swap from the directory event alone, before any poll", async () => {
    const h = await startHarness("kubernetes-secret-volume", {
      pollIntervalMs: 60_000,
      debounceMs: 20,
    });
    await h.layout.install(b);
    await waitFor("certificate B", async () => (await h.served()) === fingerprintOf(b.cert), 3_000);
  });

  it("notices a change fs.watch cannot see (a link into another directory) by polling", async () => {
    const temp = await makeTempDir("tls-elsewhere");
    cleanups.push(temp.remove);
    const linked = join(temp.dir, "linked");
    const real = join(temp.dir, "real");
    await Promise.all([mkdir(linked), mkdir(real)]);
    await writeFile(join(real, "tls.crt"), a.cert);
    await writeFile(join(real, "tls.key"), a.key);
    await symlink(join(real, "tls.crt"), join(linked, "tls.crt"));
    await symlink(join(real, "tls.key"), join(linked, "tls.key"));
    const server = createServer({ ...TLS_SERVER_OPTIONS }, (_req, res) => res.end("ok"));
    const logs = captureLogs();
    const watcher = watchTlsFiles({
      certFile: join(linked, "tls.crt"),
      keyFile: join(linked, "tls.key"),
      server,
      logger: logs.logger,
      pollIntervalMs: 100,
      debounceMs: 60_000,
    });
    const port = await listenOnLoopback(server);
    cleanups.push(async () => {
      watcher.close();
      await closeServer(server);
    });

    await writeFile(join(real, "tls.key.new"), b.key);
    await writeFile(join(real, "tls.crt.new"), b.cert);
    await rename(join(real, "tls.key.new"), join(real, "tls.key"));
    await rename(join(real, "tls.crt.new"), join(real, "tls.crt"));

    await waitFor("certificate B via polling", async () => {
      return (await fetchServedFingerprint(port, trusted)) === fingerprintOf(b.cert);
    });
  });

  it.each<{ name: string; breakFiles: (layout: TlsLayout) => Promise<void>; message: RegExp }>([
    {
      name: "a key that belongs to another certificate",
      breakFiles: (layout) => layout.install({ cert: b.cert, key: c.key }),
      message: /does not match certificate/,
    },
    {
      name: "a half-written certificate",
      breakFiles: (layout) =>
        layout.install({ cert: b.cert.slice(0, b.cert.length / 2), key: b.key }),
      message: /does not hold a PEM certificate/,
    },
    {
      name: "an empty key file",
      breakFiles: (layout) => layout.install({ cert: b.cert, key: "" }),
      message: /does not hold a PEM private key/,
    },
    {
      name: "a key file that disappeared",
      // A Secret that lost its tls.key entry: the link is left dangling.
      breakFiles: (layout) => rm(join(layout.keyFile, "..", "..data", "tls.key")),
      message: /cannot read TLS files/,
    },
  ])(
    "keeps serving the old certificate and warns after $name, then takes the next good pair",
    async ({ breakFiles, message }) => {
      const h = await startHarness("kubernetes-secret-volume");
      await breakFiles(h.layout);

      await waitFor("a warning", () => h.logs.records.some((r) => r.level === WARN));
      const warning = h.logs.records.find((r) => r.level === WARN);
      expect(warning).toMatchObject({ certFile: h.layout.certFile, keyFile: h.layout.keyFile });
      expect(JSON.stringify(warning?.err)).toMatch(message);
      expect(h.reloads).toEqual([expect.objectContaining({ outcome: "rejected" })]);
      expect(h.reloads[0]?.error).toBeInstanceOf(ConfigError);
      expect(await h.served()).toBe(fingerprintOf(a.cert));

      await h.layout.install(c);
      await waitFor("certificate C", async () => (await h.served()) === fingerprintOf(c.cert));
    },
  );

  it("does not warn about a pair caught mid-update that is complete when read again", async () => {
    // Only directory events drive reads here, so the test controls when the update completes.
    const h = await startHarness("renamed-files", { pollIntervalMs: 60_000, debounceMs: 600 });
    await writeFile(`${h.layout.keyFile}.new`, c.key);
    await rename(`${h.layout.keyFile}.new`, h.layout.keyFile);
    await waitFor("the half-updated pair to be read", () =>
      h.logs.records.some(
        (r) => r.level === DEBUG && JSON.stringify(r.err).includes("does not match"),
      ),
    );
    await writeFile(`${h.layout.certFile}.new`, c.cert);
    await rename(`${h.layout.certFile}.new`, h.layout.certFile);

    await waitFor("certificate C", async () => (await h.served()) === fingerprintOf(c.cert));
    expect(h.logs.records.filter((r) => r.level === WARN)).toEqual([]);
    expect(h.reloads).toEqual([{ outcome: "applied", fingerprint256: fingerprintOf(c.cert) }]);
  });

  it("does not warn about a certificate written a second before its key", async () => {
    // The default settle time, polling and directory events as in production.
    const h = await startHarness("renamed-files", { pollIntervalMs: 100, debounceMs: 20 });
    await writeFile(h.layout.certFile, c.cert);
    await waitFor("the mismatched pair to be read", () =>
      h.logs.records.some(
        (r) => r.level === DEBUG && JSON.stringify(r.err).includes("does not match"),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await writeFile(h.layout.keyFile, c.key);

    await waitFor("certificate C", async () => (await h.served()) === fingerprintOf(c.cert));
    expect(h.logs.records.filter((r) => r.level === WARN)).toEqual([]);
    expect(h.reloads).toEqual([{ outcome: "applied", fingerprint256: fingerprintOf(c.cert) }]);
  });

  it("warns once about an unusable pair however many polls see it", async () => {
    const h = await startHarness("kubernetes-secret-volume");
    await h.layout.install({ cert: b.cert, key: c.key });
    await waitFor("a warning", () => h.logs.records.some((r) => r.level === WARN));
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.pollIntervalMs));
    expect(h.logs.records.filter((r) => r.level === WARN)).toHaveLength(1);
    expect(await h.served()).toBe(fingerprintOf(a.cert));
  });

  it("stops reloading after close()", async () => {
    const h = await startHarness("kubernetes-secret-volume");
    h.watcher.close();
    await h.layout.install(b);
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.pollIntervalMs));
    expect(await h.served()).toBe(fingerprintOf(a.cert));
    expect(h.reloads).toEqual([]);
  });
});

describe("watchTlsFiles at startup", () => {
  it.each<{
    name: string;
    files: (dir: string) => Promise<{ certFile: string; keyFile: string }>;
    message: (files: { certFile: string; keyFile: string }) => string;
  }>([
    {
      name: "a missing key file",
      files: async (dir) => {
        await writeFile(join(dir, "tls.crt"), a.cert);
        return { certFile: join(dir, "tls.crt"), keyFile: join(dir, "missing.key") };
      },
      message: ({ keyFile }) => `cannot read TLS key file ${keyFile}`,
    },
    {
      name: "a missing certificate file",
      files: async (dir) => {
        await writeFile(join(dir, "tls.key"), a.key);
        return { certFile: join(dir, "missing.crt"), keyFile: join(dir, "tls.key") };
      },
      message: ({ certFile }) => `cannot read TLS certificate file ${certFile}`,
    },
    {
      name: "a key that does not match the certificate",
      files: async (dir) => {
        await writeFile(join(dir, "tls.crt"), a.cert);
        await writeFile(join(dir, "tls.key"), b.key);
        return { certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") };
      },
      message: ({ certFile, keyFile }) =>
        `TLS key file ${keyFile} does not match certificate ${certFile}`,
    },
    {
      name: "a certificate file holding a key",
      files: async (dir) => {
        await writeFile(join(dir, "tls.crt"), a.key);
        await writeFile(join(dir, "tls.key"), a.key);
        return { certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") };
      },
      message: ({ certFile }) => `TLS certificate file ${certFile} does not hold a PEM certificate`,
    },
  ])(
    "throws a ConfigError naming the file for $name, before touching the server",
    async ({ files, message }) => {
      const temp = await makeTempDir("tls-start");
      cleanups.push(temp.remove);
      const paths = await files(temp.dir);
      const calls: unknown[] = [];
      const server = { setSecureContext: (options: unknown) => calls.push(options) };

      let thrown: unknown;
      try {
        watchTlsFiles({ ...paths, server, logger: captureLogs().logger, ...FAST }).close();
      } catch (e: unknown) {
        thrown = e;
      }

      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).message).toContain(message(paths));
      expect(calls).toEqual([]);
    },
  );

  it("installs the pair with the recommended options on every reload", async () => {
    const calls: Record<string, unknown>[] = [];
    const layout = createTlsLayout("renamed-files", (await makeTempDir("tls-opts")).dir);
    cleanups.push(() => rm(join(layout.certFile, ".."), { recursive: true, force: true }));
    await layout.install(a);
    const watcher = watchTlsFiles({
      certFile: layout.certFile,
      keyFile: layout.keyFile,
      server: { setSecureContext: (options) => calls.push({ ...options }) },
      logger: captureLogs().logger,
      ...FAST,
    });
    cleanups.push(() => {
      watcher.close();
      return Promise.resolve();
    });
    await layout.install(b);
    await waitFor("a reload", () => calls.length === 2);

    expect(calls.map((options) => options.minVersion)).toEqual(["TLSv1.2", "TLSv1.2"]);
    expect(calls.map((options) => String(options.cert))).toEqual([a.cert, b.cert]);
  });
});
