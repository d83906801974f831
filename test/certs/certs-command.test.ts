import { X509Certificate } from "node:crypto";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { makeTempDir } from "./tls-probes.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeEach(async () => {
  temp = await makeTempDir("certs-cli");
});
afterEach(() => temp.remove());

async function run(args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from([]),
    cwd: temp.dir,
    env: {},
  };
  const code = await runCli(["certs", ...args], io);
  return { code, stdout, stderr };
}

function readCaBundle(stdout: string): string {
  const line = stdout.split("\n").find((l) => l.startsWith("caBundle: "));
  return line?.slice("caBundle: ".length) ?? "";
}

async function readLeaf(dir: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(join(dir, "tls.crt")));
}

describe("stsguard certs", () => {
  it("writes ca.crt, tls.crt and tls.key to --out and prints their paths and the caBundle", async () => {
    const out = join(temp.dir, "out");
    const result = await run(["--out", out]);

    expect(result).toMatchObject({ code: 0, stderr: "" });
    for (const file of ["ca.crt", "tls.crt", "tls.key"]) {
      await access(join(out, file));
      expect(result.stdout).toContain(join(out, file));
    }
    const caPem = await readFile(join(out, "ca.crt"), "utf8");
    expect(Buffer.from(readCaBundle(result.stdout), "base64").toString("utf8")).toBe(caPem);
    expect(readCaBundle(result.stdout)).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("writes to certs/ under the working directory by default", async () => {
    const result = await run([]);
    expect(result.code).toBe(0);
    await access(join(temp.dir, "certs", "tls.key"));
    expect(result.stdout).toContain(join(temp.dir, "certs", "tls.crt"));
  });

  it.each([
    {
      name: "localhost and 127.0.0.1 by default",
      args: [],
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      absent: ["stsguard.stsguard-system.svc"],
    },
    {
      name: "the Service's names with --service and --namespace, plus the local defaults",
      args: ["--service", "stsguard", "--namespace", "stsguard-system"],
      dnsNames: [
        "localhost",
        "stsguard",
        "stsguard.stsguard-system",
        "stsguard.stsguard-system.svc",
        "stsguard.stsguard-system.svc.cluster.local",
      ],
      ipAddresses: ["127.0.0.1"],
      absent: [],
    },
    {
      name: "only the names given with --dns and --ip",
      args: ["--dns", "a.example.test", "--dns", "b.example.test", "--ip", "10.0.0.5"],
      dnsNames: ["a.example.test", "b.example.test"],
      ipAddresses: ["10.0.0.5"],
      absent: ["localhost"],
    },
    {
      name: "a custom cluster domain",
      args: ["--service", "hook", "--namespace", "ns", "--cluster-domain", "corp.internal"],
      dnsNames: ["hook.ns.svc.corp.internal"],
      ipAddresses: [],
      absent: ["hook.ns.svc.cluster.local"],
    },
  ])("makes a certificate for $name", async ({ args, dnsNames, ipAddresses, absent }) => {
    const result = await run(args);
    expect(result.code).toBe(0);
    const leaf = await readLeaf(join(temp.dir, "certs"));
    for (const name of dnsNames) {
      expect(leaf.checkHost(name, { subject: "never" })).toBe(name);
    }
    for (const ip of ipAddresses) {
      expect(leaf.checkIP(ip)).toBe(ip);
    }
    for (const name of absent) {
      expect(leaf.checkHost(name, { subject: "never" })).toBeUndefined();
    }
  });

  it("reuses valid certificates on a second run, so an installed caBundle keeps working", async () => {
    const first = await run([]);
    const second = await run([]);
    expect(second.stdout).toMatch(/^Reusing development certificates/);
    expect(readCaBundle(second.stdout)).toBe(readCaBundle(first.stdout));
  });

  it("makes new certificates with --force", async () => {
    const first = await run([]);
    const forced = await run(["--force"]);
    expect(forced.stdout).toMatch(/^Wrote development certificates \(--force\)/);
    expect(readCaBundle(forced.stdout)).not.toBe(readCaBundle(first.stdout));
  });

  it.each([
    { name: "--service without --namespace", args: ["--service", "x"], stderr: /give both/ },
    { name: "--namespace without --service", args: ["--namespace", "x"], stderr: /give both/ },
    { name: "an invalid --ip", args: ["--ip", "999.1.1.1"], stderr: /not a valid IP address/ },
    { name: "an invalid --dns", args: ["--dns", "bad_name"], stderr: /not a valid DNS name/ },
    {
      name: "an invalid --service",
      args: ["--service", "Bad.Name", "--namespace", "x"],
      stderr: /RFC 1123/,
    },
    { name: "--days 0", args: ["--days", "0"], stderr: /whole number of days/ },
  ])("exits 2 without writing anything for $name", async ({ args, stderr }) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(stderr);
    await expect(access(join(temp.dir, "certs"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("explains names, files and the caBundle in --help", async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    for (const text of [
      "--service",
      "--namespace",
      "--out",
      "caBundle",
      "tls.key",
      "never commit",
    ]) {
      expect(result.stdout).toContain(text);
    }
  });
});
