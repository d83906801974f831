import {
  chmod,
  cp,
  lstat,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeWriteFs, type WriteFs } from "../../src/files/atomic-write.js";
import { runFix } from "../../src/cli/commands/fix.js";
import type { CliIo } from "../../src/cli/io.js";
import { makeTempDir, manifestsDir, runBuiltCli, type CliRun } from "./built-cli.js";
import { runInProcess } from "./in-process-cli.js";

const fixDir = path.join(manifestsDir, "fix");
const configFile = path.join(fixDir, "input", "stsguard.yaml");
const FILES = [
  "anchors.yaml",
  "broken.yaml",
  "comments.yaml",
  "flow.yaml",
  "multi-doc.yaml",
  "service.json",
];

/** The CRLF case is comments.yaml with Windows line endings (and its own name, to stay unique). */
function toCrlf(text: string): string {
  return text
    .replace("name: kafka-0   # broker 0", "name: kafka-0-crlf   # broker 0")
    .replace(/\n/g, "\r\n");
}

describe("stsguard fix over a tree of files (built CLI)", () => {
  let work: { dir: string; remove: () => Promise<void> };
  const runs: Record<string, CliRun> = {};
  const after: Record<string, Record<string, string>> = { first: {}, second: {} };

  const readAll = async (): Promise<Record<string, string>> => {
    const contents: Record<string, string> = {};
    for (const name of [...FILES, "crlf.yaml"]) {
      contents[name] = await readFile(path.join(work.dir, name), "utf8");
    }
    return contents;
  };

  beforeAll(async () => {
    work = await makeTempDir();
    for (const name of FILES) await cp(path.join(fixDir, "input", name), path.join(work.dir, name));
    const comments = await readFile(path.join(fixDir, "input", "comments.yaml"), "utf8");
    await writeFile(path.join(work.dir, "crlf.yaml"), toCrlf(comments));
    const args = ["fix", "--config", configFile, "."];
    runs["first"] = await runBuiltCli(args, { cwd: work.dir });
    after["first"] = await readAll();
    // The second run and the check go in process: the same code, without two Node start-ups.
    runs["second"] = await runInProcess(args, { cwd: work.dir });
    after["second"] = await readAll();
    runs["check"] = await runInProcess(["check", "-o", "json", "--config", configFile, "."], {
      cwd: work.dir,
    });
  }, 120_000);

  afterAll(async () => {
    await work.remove();
  });

  it.each(FILES.map((name) => ({ name })))(
    "writes $name byte for byte as expected",
    async ({ name }) => {
      const expected = await readFile(path.join(fixDir, "expected", name), "utf8");
      expect(after["first"]?.[name]).toBe(expected);
    },
  );

  it("keeps CRLF line endings in a CRLF file", async () => {
    const expected = toCrlf(await readFile(path.join(fixDir, "expected", "comments.yaml"), "utf8"));
    expect(after["first"]?.["crlf.yaml"]).toBe(expected);
  });

  it("leaves the file that does not parse untouched, reports it and exits 2 after fixing the rest", async () => {
    expect(after["first"]?.["broken.yaml"]).toBe(
      await readFile(path.join(fixDir, "input", "broken.yaml"), "utf8"),
    );
    expect(runs["first"]?.code).toBe(2);
    expect(runs["first"]?.stderr).toContain("broken.yaml:6:1: error: invalid YAML:");
    expect(runs["first"]?.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "fixed anchors.yaml: 2 Services",
      "fixed comments.yaml: 1 Service",
      "fixed crlf.yaml: 1 Service",
      "fixed flow.yaml: 1 Service",
      "fixed multi-doc.yaml: 2 Services",
      "fixed service.json: 1 Service",
    ]);
  });

  it("changes nothing when run a second time", () => {
    expect(after["second"]).toEqual(after["first"]);
    expect(runs["second"]?.stdout).toBe("");
    expect(runs["second"]?.stderr).toContain("stsguard: nothing to fix in 7 files");
  });

  it("leaves no finding that fix could repair", () => {
    const report = JSON.parse(runs["check"]?.stdout ?? "") as {
      findings: { fixable: boolean; rule: string }[];
    };
    expect(report.findings.filter((f) => f.fixable)).toEqual([]);
    expect(new Set(report.findings.map((f) => f.rule))).toEqual(
      new Set(["statefulset-not-found", "governing-service"]),
    );
  });
});

describe("stsguard fix --diff", () => {
  it("prints a unified diff, writes nothing and exits 1", async () => {
    const work = await makeTempDir();
    try {
      const input = await readFile(path.join(fixDir, "input", "comments.yaml"), "utf8");
      await writeFile(path.join(work.dir, "comments.yaml"), input);
      const result = await runInProcess(["fix", "--diff", "comments.yaml"], { cwd: work.dir });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe(
        [
          "--- a/comments.yaml",
          "+++ b/comments.yaml",
          "@@ -8,10 +8,11 @@",
          "   labels:",
          "     # who owns it",
          "     app.kubernetes.io/name: kafka",
          "-    stsguard.io/ordinal: '7' # wrong ordinal, single-quoted",
          "+    stsguard.io/ordinal: '0' # wrong ordinal, single-quoted",
          "+    stsguard.io/statefulset: kafka",
          " spec:",
          "   type: LoadBalancer  # public",
          '-  externalTrafficPolicy: "Cluster"',
          '+  externalTrafficPolicy: "Local"',
          "   selector:",
          "     statefulset.kubernetes.io/pod-name: kafka-0",
          "   ports:",
          "",
        ].join("\n"),
      );
      expect(await readFile(path.join(work.dir, "comments.yaml"), "utf8")).toBe(input);
    } finally {
      await work.remove();
    }
  });
});

const FIXABLE = `apiVersion: v1
kind: Service
metadata:
  name: web-0
spec:
  type: LoadBalancer
  selector:
    statefulset.kubernetes.io/pod-name: web-0
`;

describe("stsguard fix never writes part of a file", () => {
  it("keeps the original bytes when writing the fixed file fails in a child process (file size limit)", async () => {
    const work = await makeTempDir();
    try {
      // Over 1 KiB once fixed, so `ulimit -f 1` makes writing its temporary file fail (EFBIG).
      const big = `${"# padding line to make the file large enough\n".repeat(30)}${FIXABLE}`;
      await writeFile(path.join(work.dir, "big.yaml"), big);
      await writeFile(path.join(work.dir, "small.yaml"), FIXABLE.replaceAll("web-0", "db-0"));
      const result = await runBuiltCli(["fix", "."], {
        cwd: work.dir,
        shellPrefix: "ulimit -f 1;",
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /big\.yaml: error: cannot write big\.yaml, left unchanged: .*EFBIG/,
      );
      expect(await readFile(path.join(work.dir, "big.yaml"), "utf8")).toBe(big);
      expect(await readFile(path.join(work.dir, "small.yaml"), "utf8")).toContain(
        "externalTrafficPolicy: Local",
      );
      expect((await readdir(work.dir)).sort()).toEqual(["big.yaml", "small.yaml"]);
    } finally {
      await work.remove();
    }
  });

  const failures: { name: string; failing: keyof WriteFs }[] = [
    { name: "when writing the temporary file fails half-way", failing: "writeNewFile" },
    { name: "when renaming it over the original fails", failing: "rename" },
  ];

  it.each(failures)(
    "keeps the original and removes the temporary file $name (in-process seam)",
    async ({ failing }) => {
      const work = await makeTempDir();
      try {
        const file = path.join(work.dir, "svc.yaml");
        await writeFile(path.join(work.dir, "other.yaml"), FIXABLE.replaceAll("web-0", "db-0"));
        await writeFile(file, FIXABLE);
        const fs: WriteFs = {
          ...nodeWriteFs,
          async writeNewFile(target, data, mode) {
            if (failing === "writeNewFile" && target.includes("svc.yaml")) {
              await writeFile(target, data.slice(0, 10), { mode });
              throw new Error("disk full");
            }
            await nodeWriteFs.writeNewFile(target, data, mode);
          },
          async rename(from, to) {
            if (failing === "rename" && to.endsWith("svc.yaml")) throw new Error("rename refused");
            await nodeWriteFs.rename(from, to);
          },
        };
        const io = createMemoryIo(work.dir);
        const code = await runFix(["."], { namespace: "default" }, io, fs);
        expect(code).toBe(2);
        expect(io.errText()).toMatch(
          /svc\.yaml: error: cannot write svc\.yaml, left unchanged: (disk full|rename refused)/,
        );
        expect(await readFile(file, "utf8")).toBe(FIXABLE);
        expect(await readFile(path.join(work.dir, "other.yaml"), "utf8")).toContain(
          "externalTrafficPolicy: Local",
        );
        expect((await readdir(work.dir)).sort()).toEqual(["other.yaml", "svc.yaml"]);
      } finally {
        await work.remove();
      }
    },
  );
});

describe("stsguard fix file metadata", () => {
  it("keeps the file mode", async () => {
    const work = await makeTempDir();
    try {
      const target = path.join(work.dir, "real.yaml");
      await writeFile(target, FIXABLE);
      await chmod(target, 0o640);
      const io = createMemoryIo(work.dir);
      expect(await runFix(["real.yaml"], { namespace: "default" }, io, nodeWriteFs)).toBe(0);
      expect(await readFile(target, "utf8")).toContain("externalTrafficPolicy: Local");
      expect((await stat(target)).mode & 0o777).toBe(0o640);
    } finally {
      await work.remove();
    }
  });

  it("never writes through a symbolic link, even one that appears after the file was read (in-process seam)", async () => {
    const work = await makeTempDir();
    try {
      const target = path.join(work.dir, "elsewhere.yaml");
      const file = path.join(work.dir, "svc.yaml");
      await writeFile(target, "kept: true\n");
      await writeFile(file, FIXABLE);
      // Between the read and the write, the file is swapped for a link.
      const fs: WriteFs = {
        ...nodeWriteFs,
        async lstat(name) {
          if (name === file) {
            await rm(file);
            await symlink("elsewhere.yaml", file);
          }
          return nodeWriteFs.lstat(name);
        },
      };
      const io = createMemoryIo(work.dir);
      expect(await runFix(["svc.yaml"], { namespace: "default" }, io, fs)).toBe(2);
      expect(io.errText()).toContain(
        `svc.yaml: error: cannot write svc.yaml, left unchanged: ${file} is a symbolic link; only regular files are rewritten`,
      );
      expect(await readFile(target, "utf8")).toBe("kept: true\n");
      expect((await lstat(file)).isSymbolicLink()).toBe(true);
      expect(await readlink(file)).toBe("elsewhere.yaml");
    } finally {
      await work.remove();
    }
  });

  it("refuses standard input, which it could not write back", async () => {
    const io = createMemoryIo("/");
    await expect(runFix(["-"], { namespace: "default" }, io, nodeWriteFs)).rejects.toThrow(
      /standard input/,
    );
  });
});

function createMemoryIo(cwd: string): CliIo & { outText: () => string; errText: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    stdin: process.stdin,
    cwd,
    env: {},
    outText: () => out.join(""),
    errText: () => err.join(""),
  };
}
