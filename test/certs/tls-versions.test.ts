import { X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:https";
import tls, { connect, type SecureVersion } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDevCertificates, type DevCertificates } from "../../src/certs/generate.js";
import { TLS_SERVER_OPTIONS, watchTlsFiles, type TlsWatcher } from "../../src/server/tls.js";
import { createTlsLayout } from "./tls-layouts.js";
import {
  captureLogs,
  closeServer,
  fetchServedFingerprint,
  listenOnLoopback,
  makeTempDir,
  waitFor,
} from "./tls-probes.js";

// Node's own floor is already TLS 1.2. Lower it for this file (as `node --tls-min-v1.0
// --tls-cipher-list=...` would) so that only TLS_SERVER_OPTIONS can refuse TLS 1.1.
const nodeDefaults = { minVersion: tls.DEFAULT_MIN_VERSION, ciphers: tls.DEFAULT_CIPHERS };
const LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0";

interface Running {
  port: number;
  server: Server;
  watcher: TlsWatcher;
  remove: () => Promise<void>;
}

const running = new Map<"at startup" | "after a reload", Running>();
let a: DevCertificates;
let b: DevCertificates;

async function startServer(rotate: boolean): Promise<Running> {
  const temp = await makeTempDir("tls-versions");
  const layout = createTlsLayout("kubernetes-secret-volume", temp.dir);
  await layout.install(a);
  const server = createServer({ ...TLS_SERVER_OPTIONS }, (_req, res) => res.end("ok"));
  const watcher = watchTlsFiles({
    certFile: layout.certFile,
    keyFile: layout.keyFile,
    server,
    logger: captureLogs().logger,
    pollIntervalMs: 100,
    debounceMs: 20,
  });
  const port = await listenOnLoopback(server);
  if (rotate) {
    await layout.install(b);
    const expected = new X509Certificate(b.cert).fingerprint256;
    await waitFor("certificate B", async () => {
      return (await fetchServedFingerprint(port, [a.caCert, b.caCert])) === expected;
    });
  }
  return { port, server, watcher, remove: temp.remove };
}

beforeAll(async () => {
  tls.DEFAULT_MIN_VERSION = "TLSv1";
  tls.DEFAULT_CIPHERS = LEGACY_CIPHERS;
  [a, b] = await Promise.all([
    generateDevCertificates({ dnsNames: ["localhost"] }),
    generateDevCertificates({ dnsNames: ["localhost"] }),
  ]);
  running.set("at startup", await startServer(false));
  running.set("after a reload", await startServer(true));
});

afterAll(async () => {
  tls.DEFAULT_MIN_VERSION = nodeDefaults.minVersion;
  tls.DEFAULT_CIPHERS = nodeDefaults.ciphers;
  for (const { server, watcher, remove } of running.values()) {
    watcher.close();
    await closeServer(server);
    await remove();
  }
});

function negotiate(port: number, version: SecureVersion, ca: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port,
        ca,
        minVersion: version,
        maxVersion: version,
        ciphers: LEGACY_CIPHERS,
      },
      () => {
        resolve(socket.getProtocol() ?? "none");
        socket.destroy();
      },
    );
    socket.on("error", reject);
  });
}

describe("TLS protocol versions", () => {
  it("accepts TLS 1.1 on a server without TLS_SERVER_OPTIONS (control for this setup)", async () => {
    const server = createServer({}, (_req, res) => res.end("ok"));
    server.setSecureContext({ cert: a.cert, key: a.key });
    const port = await listenOnLoopback(server);
    try {
      await expect(negotiate(port, "TLSv1.1", [a.caCert])).resolves.toBe("TLSv1.1");
    } finally {
      await closeServer(server);
    }
  });

  it.each([
    {
      name: "refuses a TLS 1.1 client at startup",
      when: "at startup",
      version: "TLSv1.1",
      ok: false,
    },
    {
      name: "refuses a TLS 1.1 client after a reload",
      when: "after a reload",
      version: "TLSv1.1",
      ok: false,
    },
    { name: "accepts TLS 1.2 at startup", when: "at startup", version: "TLSv1.2", ok: true },
    {
      name: "accepts TLS 1.2 after a reload",
      when: "after a reload",
      version: "TLSv1.2",
      ok: true,
    },
    {
      name: "accepts TLS 1.3 after a reload",
      when: "after a reload",
      version: "TLSv1.3",
      ok: true,
    },
  ] as const)("$name", async ({ when, version, ok }) => {
    const { port } = running.get(when) ?? expect.fail(`no server ${when}`);
    const attempt = negotiate(port, version, [a.caCert, b.caCert]);
    if (ok) {
      await expect(attempt).resolves.toBe(version);
    } else {
      await expect(attempt).rejects.toMatchObject({ code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" });
    }
  });
});
