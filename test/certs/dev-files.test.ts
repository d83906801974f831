import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ensureDevCertificates,
  generateDevCertificates,
  writeDevCertificates,
  type DevCertificateOptions,
} from "../../src/certs/generate.js";
import { makeTempDir } from "./tls-probes.js";

const LOCAL = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };
const DAY_MS = 86_400_000;

let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeEach(async () => {
  temp = await makeTempDir("certs");
});
afterEach(() => temp.remove());

async function readAll(dir: string): Promise<Record<string, string>> {
  const names = ["ca.crt", "tls.crt", "tls.key"];
  const contents = await Promise.all(names.map((name) => readFile(join(dir, name), "utf8")));
  return Object.fromEntries(names.map((name, i) => [name, contents[i] ?? ""]));
}

describe("writeDevCertificates", () => {
  it("writes ca.crt, tls.crt and tls.key that belong together and returns their paths", async () => {
    const dir = join(temp.dir, "nested", "certs");
    const files = await writeDevCertificates(dir, LOCAL);

    expect(files).toMatchObject({
      caCertFile: join(dir, "ca.crt"),
      certFile: join(dir, "tls.crt"),
      keyFile: join(dir, "tls.key"),
    });
    const { "ca.crt": caPem, "tls.crt": certPem, "tls.key": keyPem } = await readAll(dir);
    const leaf = new X509Certificate(certPem ?? "");
    expect(leaf.verify(new X509Certificate(caPem ?? "").publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(keyPem ?? ""))).toBe(true);
    expect(Buffer.from(files.caBundle, "base64").toString("utf8")).toBe(caPem);
    expect(files.notAfter.toISOString()).toBe(new Date(leaf.validTo).toISOString());
  });

  it.each([
    { name: "the key is readable by its owner only", file: "tls.key", mode: 0o600 },
    { name: "the CA certificate is world-readable", file: "ca.crt", mode: 0o644 },
    { name: "the serving certificate is world-readable", file: "tls.crt", mode: 0o644 },
  ])("$name", async ({ file, mode }) => {
    await writeDevCertificates(temp.dir, LOCAL);
    expect((await stat(join(temp.dir, file))).mode & 0o777).toBe(mode);
  });

  it("replaces existing files and leaves no temporary files behind", async () => {
    await writeFile(join(temp.dir, "tls.key"), "old", { mode: 0o644 });
    await writeDevCertificates(temp.dir, LOCAL);
    expect((await readdir(temp.dir)).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
    expect((await stat(join(temp.dir, "tls.key"))).mode & 0o777).toBe(0o600);
  });
});

describe("ensureDevCertificates", () => {
  it("reuses valid files for the same names without touching them", async () => {
    const first = await ensureDevCertificates(temp.dir, LOCAL);
    const before = await readAll(temp.dir);
    const second = await ensureDevCertificates(temp.dir, LOCAL);

    expect(first.outcome).toBe("generated");
    expect(second.outcome).toBe("reused");
    expect(second.caBundle).toBe(first.caBundle);
    expect(await readAll(temp.dir)).toEqual(before);
  });

  it("reuses files that cover more names than requested", async () => {
    await writeDevCertificates(temp.dir, { dnsNames: ["localhost", "extra.test"] });
    const result = await ensureDevCertificates(temp.dir, { dnsNames: ["localhost"] });
    expect(result.outcome).toBe("reused");
  });

  const now = new Date();
  it.each<{
    name: string;
    prepare: (dir: string) => Promise<unknown>;
    request: DevCertificateOptions;
    reason: RegExp;
  }>([
    {
      name: "there are no files yet",
      prepare: () => Promise.resolve(),
      request: LOCAL,
      reason: /no complete set of certificates/,
    },
    {
      name: "one of the files is missing",
      prepare: async (dir) => {
        await writeDevCertificates(dir, LOCAL);
        await rm(join(dir, "tls.key"));
      },
      request: LOCAL,
      reason: /no complete set of certificates/,
    },
    {
      name: "a DNS name differs",
      prepare: (dir) => writeDevCertificates(dir, LOCAL),
      request: { dnsNames: ["stsguard.stsguard-system.svc"], ipAddresses: ["127.0.0.1"] },
      reason: /does not cover stsguard\.stsguard-system\.svc/,
    },
    {
      name: "an IP address differs",
      prepare: (dir) => writeDevCertificates(dir, LOCAL),
      request: { dnsNames: ["localhost"], ipAddresses: ["10.1.2.3"] },
      reason: /does not cover 10\.1\.2\.3/,
    },
    {
      name: "they expire within 7 days",
      prepare: (dir) => writeDevCertificates(dir, { ...LOCAL, validDays: 6 }),
      request: LOCAL,
      reason: /expires/,
    },
    {
      name: "they will have expired at the given time",
      prepare: (dir) => writeDevCertificates(dir, { ...LOCAL, validDays: 30, now }),
      request: { ...LOCAL, now: new Date(now.getTime() + 40 * DAY_MS) },
      reason: /expires/,
    },
    {
      name: "the key does not match the certificate",
      prepare: async (dir) => {
        await writeDevCertificates(dir, LOCAL);
        const other = await generateDevCertificates(LOCAL);
        await writeFile(join(dir, "tls.key"), other.key);
      },
      request: LOCAL,
      reason: /key does not match/,
    },
    {
      name: "the certificate was signed by another CA",
      prepare: async (dir) => {
        await writeDevCertificates(dir, LOCAL);
        const other = await generateDevCertificates(LOCAL);
        await writeFile(join(dir, "ca.crt"), other.caCert);
      },
      request: LOCAL,
      reason: /not signed by the CA/,
    },
    {
      name: "a file is not a certificate",
      prepare: async (dir) => {
        await writeDevCertificates(dir, LOCAL);
        await writeFile(join(dir, "tls.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n");
      },
      request: LOCAL,
      reason: /does not parse/,
    },
  ])("generates new files when $name", async ({ prepare, request, reason }) => {
    await prepare(temp.dir);
    const before = await readFile(join(temp.dir, "ca.crt"), "utf8").catch(() => "");

    const result = await ensureDevCertificates(temp.dir, request);

    expect(result.outcome).toBe("generated");
    expect(result.reason).toMatch(reason);
    const after = await readAll(temp.dir);
    expect(after["ca.crt"]).not.toBe(before);
    const leaf = new X509Certificate(after["tls.crt"] ?? "");
    for (const name of request.dnsNames) {
      expect(leaf.checkHost(name)).toBe(name);
    }
    for (const ip of request.ipAddresses ?? []) {
      expect(leaf.checkIP(ip)).toBe(ip);
    }
    expect(leaf.checkPrivateKey(createPrivateKey(after["tls.key"] ?? ""))).toBe(true);
    expect((await ensureDevCertificates(temp.dir, request)).outcome).toBe("reused");
  });
});
