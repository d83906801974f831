import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureDevCertificates } from "../../src/certs/generate.js";
import { makeTempDir } from "./tls-probes.js";

const SCRIPT = resolve(import.meta.dirname, "../../certs/make-dev-certs.sh");
const run = promisify(execFile);

let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeEach(async () => {
  temp = await makeTempDir("certs-sh");
});
afterEach(() => temp.remove());

function runScript(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("sh", [SCRIPT, ...args], {
    env: { PATH: process.env.PATH, CERTS_DIR: temp.dir, DAYS: "30" },
    timeout: 10_000,
  });
}

describe("certs/make-dev-certs.sh", () => {
  it.each([
    { name: "no arguments", args: [], dnsNames: ["localhost"], absent: ["stsguard"] },
    {
      name: "a Service name",
      args: ["stsguard"],
      dnsNames: ["localhost", "stsguard"],
      absent: ["stsguard.stsguard-system.svc"],
    },
    {
      name: "a Service name and namespace",
      args: ["stsguard", "stsguard-system"],
      dnsNames: [
        "localhost",
        "stsguard",
        "stsguard.stsguard-system",
        "stsguard.stsguard-system.svc",
        "stsguard.stsguard-system.svc.cluster.local",
      ],
      absent: [],
    },
  ])("makes the same files as `stsguard certs` for $name", async ({ args, dnsNames, absent }) => {
    const { stdout } = await runScript(args);

    expect((await readdir(temp.dir)).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
    expect((await stat(join(temp.dir, "tls.key"))).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(await readFile(join(temp.dir, "ca.crt")));
    const leaf = new X509Certificate(await readFile(join(temp.dir, "tls.crt")));
    expect(ca.ca).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(await readFile(join(temp.dir, "tls.key"))))).toBe(
      true,
    );
    expect(leaf.checkIP("127.0.0.1")).toBe("127.0.0.1");
    for (const name of dnsNames) {
      expect(leaf.checkHost(name, { subject: "never" })).toBe(name);
    }
    for (const name of absent) {
      expect(leaf.checkHost(name, { subject: "never" })).toBeUndefined();
    }
    const caBundle = /^caBundle: (\S+)$/m.exec(stdout)?.[1] ?? "";
    expect(Buffer.from(caBundle, "base64").toString("utf8")).toBe(
      await readFile(join(temp.dir, "ca.crt"), "utf8"),
    );
    // stsguard itself accepts the files as they are.
    const ensured = await ensureDevCertificates(temp.dir, { dnsNames, ipAddresses: ["127.0.0.1"] });
    expect(ensured.outcome).toBe("reused");
  });

  it.each([
    { name: "an invalid Service name", args: ["Not_Valid"], stderr: /not a valid Kubernetes name/ },
    { name: "too many arguments", args: ["a", "b", "c"], stderr: /Usage:/ },
  ])("exits 2 and writes nothing for $name", async ({ args, stderr }) => {
    await expect(runScript(args)).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(stderr),
    });
    expect(await readdir(temp.dir)).toEqual([]);
  });
});
