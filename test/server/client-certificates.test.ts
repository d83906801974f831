// `--client-ca`: the admission port asks for a client certificate and refuses a connection that
// presents none, or one another CA signed; the plain metrics port stays open for probes. Real
// sockets, certificates made in-process.
import { rename, writeFile } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { startServer, type RunningServer, type TlsSource } from "../../src/server/server.js";
import { configFor, fixtureSource } from "../admission/admission-inputs.js";
import { makeTempDir } from "../certs/tls-probes.js";
import { makeClientCertificates, type ClientCertificates } from "../helpers/client-certs.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { waitFor } from "../helpers/wait-for.js";
import { requestHttp } from "./https-client.js";

let serving: TestCertificates;
let apiserver: ClientCertificates;
let stranger: ClientCertificates;

beforeAll(async () => {
  [serving, apiserver, stranger] = await Promise.all([
    makeTestCertificates(),
    makeClientCertificates("kube-apiserver"),
    makeClientCertificates("someone-else"),
  ]);
});

function start(tls: TlsSource): Promise<RunningServer> {
  return startServer({
    source: fixtureSource(),
    config: configFor("1.26"),
    logger: createLogger({ destination: createMemoryLogDestination() }),
    tls,
    host: "127.0.0.1",
    metricsPort: 0,
  });
}

type Outcome = { status: number } | { refused: string };

/** GET over HTTPS, presenting `client` (or no certificate); a refused handshake is an outcome. */
function get(port: number, path: string, client?: ClientCertificates): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        port,
        host: "127.0.0.1",
        path,
        ca: serving.caCert,
        servername: "localhost",
        agent: false,
        ...(client ? { cert: client.cert, key: client.key } : {}),
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0 });
        });
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => {
      resolve({ refused: error.code ?? error.message });
    });
    req.end();
  });
}

describe("serve with a client CA", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await start({ cert: serving.cert, key: serving.key, clientCa: apiserver.caCert });
  });

  afterAll(async () => {
    await server.close();
  });

  it("answers a caller that presents a certificate the client CA signed", async () => {
    expect(await get(server.port, "/healthz", apiserver)).toEqual({ status: 200 });
  });

  it("refuses a caller without a client certificate in the TLS handshake", async () => {
    const outcome = await get(server.port, "/healthz");
    expect(outcome).not.toHaveProperty("status");
    // TLS 1.3: the server's alert arrives after the client's Finished, as a reset or an alert.
    expect((outcome as { refused: string }).refused).toMatch(
      /^(ECONNRESET|ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|EPIPE)$/,
    );
  });

  it("refuses a certificate another CA signed", async () => {
    const outcome = await get(server.port, "/validate", stranger);
    expect(outcome).not.toHaveProperty("status");
  });

  it("keeps /healthz, /readyz and /metrics open on the plain metrics port, and counts the refusals", async () => {
    const port = server.metricsPort ?? 0;
    expect((await requestHttp(port, "/healthz")).status).toBe(200);
    expect((await requestHttp(port, "/readyz")).status).toBe(200);
    const metrics = await requestHttp(port, "/metrics");
    expect(metrics.text).toMatch(
      /^stsguard_connections_cut_total\{reason="tls-handshake-failed"\} [2-9]\d*$/m,
    );
  });
});

describe("a client CA file", () => {
  it("is reloaded when it changes, like the serving certificate", async () => {
    const temp = await makeTempDir("client-ca");
    const files = {
      certFile: join(temp.dir, "tls.crt"),
      keyFile: join(temp.dir, "tls.key"),
      clientCaFile: join(temp.dir, "client-ca.crt"),
    };
    await writeFile(files.certFile, serving.cert);
    await writeFile(files.keyFile, serving.key);
    await writeFile(files.clientCaFile, apiserver.caCert);
    const server = await start({ ...files, pollIntervalMs: 100 });
    try {
      expect(await get(server.port, "/healthz", apiserver)).toEqual({ status: 200 });
      expect(await get(server.port, "/healthz", stranger)).not.toHaveProperty("status");
      // Rotate: the new CA replaces the old one, as a Secret volume update does (rename).
      await writeFile(`${files.clientCaFile}.new`, stranger.caCert);
      await rename(`${files.clientCaFile}.new`, files.clientCaFile);
      await waitFor("the new client CA", async () => {
        const outcome = await get(server.port, "/healthz", stranger);
        return "status" in outcome && outcome.status === 200;
      });
      expect(await get(server.port, "/healthz", apiserver)).not.toHaveProperty("status");
    } finally {
      await server.close();
      await temp.remove();
    }
  });

  it.each([
    {
      name: "holds no certificate",
      content: "not a certificate\n",
      message: "holds no PEM certificate",
    },
    { name: "holds a certificate that is no CA", content: "", message: "is not a CA certificate" },
  ])("is refused at start when it $name, naming the file", async ({ content, message }) => {
    const temp = await makeTempDir("client-ca");
    const files = {
      certFile: join(temp.dir, "tls.crt"),
      keyFile: join(temp.dir, "tls.key"),
      clientCaFile: join(temp.dir, "client-ca.crt"),
    };
    await writeFile(files.certFile, serving.cert);
    await writeFile(files.keyFile, serving.key);
    // The client certificate itself (no CA) when no content is given.
    await writeFile(files.clientCaFile, content === "" ? apiserver.cert : content);
    try {
      const started = start(files);
      await expect(started).rejects.toThrow(ConfigError);
      await expect(started).rejects.toThrow(`client CA file ${files.clientCaFile}`);
      await expect(started).rejects.toThrow(message);
    } finally {
      await temp.remove();
    }
  });
});
