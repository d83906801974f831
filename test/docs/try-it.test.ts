// The README's "Try it" walk-through, run as written: `npm start`'s server (the built CLI with the
// start script's arguments, in a fresh directory holding a copy of examples/), then each curl
// command through sh, whose output must be exactly the block the README shows after it.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "../certs/tls-probes.js";
import { repoRoot } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";

const run = promisify(execFile);
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const section = /\n## Try it\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? "";
const startScript = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  }
).scripts["start"];

interface Block {
  readonly lang: string;
  readonly body: string;
}

const blocks: Block[] = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((match) => ({
  lang: match[1] ?? "",
  body: match[2] ?? "",
}));

/** Each curl command with the block that follows it: what it prints. */
const exchanges = blocks.flatMap((block, index) => {
  const next = blocks[index + 1];
  return block.lang === "sh" && block.body.startsWith("curl ") && next
    ? [{ command: block.body.trim(), expected: next.body.trim() }]
    : [];
});

function onPath(tool: string): boolean {
  const dirs = (process.env["PATH"] ?? "").split(":");
  return dirs.some((dir) => existsSync(join(dir, tool)));
}

describe("README: Try it", () => {
  it("starts with `npm start`, whose script builds and serves the example manifests", () => {
    expect(blocks[0]?.body.replace(/\s+#.*$/s, "")).toBe("npm start");
    expect(startScript).toBe(
      "npm run build && node dist/cli.js serve --manifests examples/manifests",
    );
    expect(section).toMatch(/https:\/\/127\.0\.0\.1:8443/);
  });

  it("shows a denied request and a patched one, each with its output", () => {
    expect(
      exchanges.map((exchange) => /\/(validate|mutate)\b/.exec(exchange.command)?.[1]),
    ).toEqual(["validate", "mutate"]);
    expect(exchanges[0]?.expected).toContain('"allowed": false');
    expect(exchanges[1]?.expected).toContain('"op":"replace"');
  });

  describe("against the server `npm start` runs", () => {
    let temp: { dir: string; remove: () => Promise<void> };
    let child: ChildProcess;
    let stderr = "";
    let url = "";

    beforeAll(async () => {
      for (const tool of ["curl", "jq", "base64"]) {
        if (!onPath(tool)) throw new Error(`the README's walk-through needs ${tool} on PATH`);
      }
      const cli = join(repoRoot, "dist", "cli.js");
      if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
      temp = await makeTempDir("try-it");
      await cp(join(repoRoot, "examples"), join(temp.dir, "examples"), { recursive: true });
      const startArgs = (startScript ?? "").replace(/^npm run build && node dist\/cli\.js /, "");
      // A free port instead of 8443, which another test or program may hold.
      const args = [...startArgs.split(" "), "--port", "0", "--metrics-port", "off"];
      child = spawn(process.execPath, [cli, ...args, "--host", "127.0.0.1"], {
        cwd: temp.dir,
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: temp.dir },
        stdio: ["ignore", "ignore", "pipe"],
      });
      child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      await waitFor("the start banner", () => /Stop with Ctrl-C/.test(stderr), 20_000);
      url = /stsguard webhook: (https:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1] ?? "";
    }, 30_000);

    afterAll(async () => {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
      await temp.remove();
    });

    it.each(
      exchanges.map((exchange) => ({
        ...exchange,
        endpoint: /\/(validate|mutate)\b/.exec(exchange.command)?.[1],
      })),
    )("curl to /$endpoint prints what the README shows", async ({ command, expected }) => {
      const script = command.replaceAll("https://127.0.0.1:8443", url);
      // pipefail: a failing curl must fail the test even though jq ends the pipe.
      const { stdout } = await run("bash", ["-o", "pipefail", "-c", script], {
        cwd: temp.dir,
        timeout: 10_000,
      });
      expect(stdout.trim()).toBe(expected);
    });
  });
});
