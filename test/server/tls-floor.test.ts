import tls, { type SecureVersion } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { makeTempDir } from "../certs/tls-probes.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { configFor, fixtureSource } from "../admission/admission-inputs.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

// Node's own floor is TLS 1.2 already: lower it in this file (as `node --tls-min-v1.0` would),
// so that only the webhook server's own options can refuse TLS 1.1.
const nodeDefaults = { minVersion: tls.DEFAULT_MIN_VERSION, ciphers: tls.DEFAULT_CIPHERS };
const LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0";

let certs: TestCertificates;
const servers = new Map<string, RunningServer>();
let removeTemp = (): Promise<void> => Promise.resolve();

beforeAll(async () => {
  tls.DEFAULT_MIN_VERSION = "TLSv1";
  tls.DEFAULT_CIPHERS = LEGACY_CIPHERS;
  certs = await makeTestCertificates();
  const temp = await makeTempDir("tls-floor");
  removeTemp = temp.remove;
  const certFile = join(temp.dir, "tls.crt");
  const keyFile = join(temp.dir, "tls.key");
  await writeFile(certFile, certs.cert);
  await writeFile(keyFile, certs.key);
  const common = {
    source: fixtureSource(),
    config: configFor("1.36"),
    logger: createLogger({ destination: createMemoryLogDestination() }),
    host: "127.0.0.1",
  };
  servers.set(
    "PEM given directly",
    await startServer({ ...common, tls: { cert: certs.cert, key: certs.key } }),
  );
  servers.set("files watched", await startServer({ ...common, tls: { certFile, keyFile } }));
});

afterAll(async () => {
  tls.DEFAULT_MIN_VERSION = nodeDefaults.minVersion;
  tls.DEFAULT_CIPHERS = nodeDefaults.ciphers;
  for (const server of servers.values()) await server.close();
  await removeTemp();
});

function negotiate(port: number, version: SecureVersion): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: certs.caCert,
      minVersion: version,
      maxVersion: version,
      ciphers: LEGACY_CIPHERS,
    });
    socket.once("secureConnect", () => {
      const protocol = socket.getProtocol() ?? "";
      socket.destroy();
      resolve(protocol);
    });
    socket.once("error", reject);
  });
}

describe("the admission port speaks TLS 1.2 and later only", () => {
  const rows = ["PEM given directly", "files watched"].flatMap((setup) => [
    { setup, version: "TLSv1.1" as const, accepted: false },
    { setup, version: "TLSv1" as const, accepted: false },
    { setup, version: "TLSv1.2" as const, accepted: true },
    { setup, version: "TLSv1.3" as const, accepted: true },
  ]);

  it.each(rows)("$setup: $version accepted=$accepted", async ({ setup, version, accepted }) => {
    const port = servers.get(setup)?.port ?? 0;
    if (accepted) {
      await expect(negotiate(port, version)).resolves.toBe(version);
    } else {
      await expect(negotiate(port, version)).rejects.toThrow(/version|protocol/i);
    }
  });
});
