import { X509Certificate, createPrivateKey } from "node:crypto";
import { request, createServer } from "node:https";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateDevCertificates,
  toCaBundle,
  type DevCertificates,
} from "../../src/certs/generate.js";
import { ConfigError } from "../../src/errors.js";
import { TLS_SERVER_OPTIONS } from "../../src/server/tls.js";
import { makeTestCertificates } from "../helpers/tls.js";
import { closeServer, listenOnLoopback } from "./tls-probes.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const NAMES = {
  dnsNames: ["localhost", "stsguard.stsguard-system.svc", "*.example.test"],
  ipAddresses: ["127.0.0.1", "::1"],
};

describe("generateDevCertificates", () => {
  let certs: DevCertificates;
  let ca: X509Certificate;
  let leaf: X509Certificate;

  beforeAll(async () => {
    certs = await generateDevCertificates({ ...NAMES, validDays: 30 });
    ca = new X509Certificate(certs.caCert);
    leaf = new X509Certificate(certs.cert);
  });

  it("makes a CA certificate that may sign certificates", () => {
    const parsed = new x509.X509Certificate(certs.caCert);
    const usage = parsed.getExtension(x509.KeyUsagesExtension);
    expect(ca.ca).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    expect((usage?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign).not.toBe(0);
  });

  it("makes a serving certificate signed by that CA", () => {
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.keyUsage).toEqual([SERVER_AUTH]);
    const usage = new x509.X509Certificate(certs.cert).getExtension(x509.KeyUsagesExtension);
    expect((usage?.usages ?? 0) & x509.KeyUsageFlags.digitalSignature).not.toBe(0);
  });

  it("gives a PKCS#8 PEM key that matches the serving certificate", () => {
    expect(certs.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(leaf.checkPrivateKey(createPrivateKey(certs.key))).toBe(true);
  });

  it.each([
    ...NAMES.dnsNames.map((name) => ({ name: `DNS ${name}`, san: `DNS:${name}` })),
    { name: "IPv4 127.0.0.1", san: "IP Address:127.0.0.1" },
    { name: "IPv6 ::1", san: "IP Address:0:0:0:0:0:0:0:1" },
  ])("lists $name as a subject alternative name", ({ san }) => {
    expect(leaf.subjectAltName?.split(", ")).toContain(san);
  });

  it("makes both certificates valid from a few minutes ago for the requested days", () => {
    const now = Date.now();
    for (const certificate of [ca, leaf]) {
      expect(Date.parse(certificate.validFrom)).toBeLessThan(now);
      expect(Date.parse(certificate.validFrom)).toBeGreaterThan(now - 10 * 60_000);
      expect(Date.parse(certificate.validTo) - now).toBeGreaterThan(29.9 * 86_400_000);
      expect(Date.parse(certificate.validTo) - now).toBeLessThan(30.1 * 86_400_000);
    }
  });

  it("makes a new CA and key every time", async () => {
    const again = await generateDevCertificates(NAMES);
    expect(again.caCert).not.toBe(certs.caCert);
    expect(again.key).not.toBe(certs.key);
  });

  it("encodes the caBundle as base64 of the CA PEM", () => {
    expect(Buffer.from(toCaBundle(certs.caCert), "base64").toString("utf8")).toBe(certs.caCert);
  });

  it.each([
    { name: "no names at all", options: { dnsNames: [] } },
    { name: "an upper-case or invalid DNS name", options: { dnsNames: ["Bad_Name"] } },
    { name: "a DNS label longer than 63", options: { dnsNames: [`${"a".repeat(64)}.test`] } },
    { name: "an invalid IP address", options: { dnsNames: ["a"], ipAddresses: ["300.1.1.1"] } },
    { name: "zero validity days", options: { dnsNames: ["a"], validDays: 0 } },
  ])("rejects $name with a ConfigError", async ({ options }) => {
    await expect(generateDevCertificates(options)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("a real HTTPS server using generated certificates", () => {
  let port: number;
  const server = createServer({ ...TLS_SERVER_OPTIONS }, (_req, res) => {
    res.end("hello over TLS");
  });

  beforeAll(async () => {
    const { cert, key } = await makeTestCertificates();
    server.setSecureContext({ ...TLS_SERVER_OPTIONS, cert, key });
    port = await listenOnLoopback(server);
  });
  afterAll(() => closeServer(server));

  it.each([
    { name: "localhost", host: "127.0.0.1", servername: "localhost" },
    { name: "127.0.0.1", host: "127.0.0.1", servername: undefined },
  ])("answers a client that trusts only the CA, for $name", async ({ host, servername }) => {
    const { caCert } = await makeTestCertificates();
    const body = await getText({ host, servername, port, ca: caCert });
    expect(body).toBe("hello over TLS");
  });

  it("is refused by a client that trusts a different CA", async () => {
    const other = await generateDevCertificates({ dnsNames: ["localhost"] });
    await expect(
      getText({ host: "127.0.0.1", servername: "localhost", port, ca: other.caCert }),
    ).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
  });

  it("is refused for a name the certificate does not cover", async () => {
    const { caCert } = await makeTestCertificates();
    await expect(
      getText({ host: "127.0.0.1", servername: "elsewhere.test", port, ca: caCert }),
    ).rejects.toMatchObject({ code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  });
});

function getText(options: {
  host: string;
  servername: string | undefined;
  port: number;
  ca: string;
}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...options, path: "/", agent: false, rejectUnauthorized: true },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          resolve(body);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}
