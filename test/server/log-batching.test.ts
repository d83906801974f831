import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * `serve`'s stdout logger, as built: admission lines logged one at a time (as sequential requests
 * log them) are written in batches, not one write each, since every asynchronous write is a
 * hand-off to libuv's thread pool; and a lone line still goes out within the flush interval,
 * without waiting for more traffic or for the process to exit.
 */

const LOGGER = pathToFileURL(join(import.meta.dirname, "../../dist/observability/logger.js")).href;
const LINES = 60;

// Counts the fs.write calls sonic-boom makes, logs LINES admission-sized lines a few ms apart
// (each write finishes before the next line), then one lone line, and stays up 1.5 s after it.
const CHILD = `
import fs from "node:fs";
let writes = 0;
const write = fs.write;
fs.write = (...args) => { writes += 1; return write(...args); };
const { createLogger, createStdoutLogDestination } = await import(${JSON.stringify(LOGGER)});
const logger = createLogger({ destination: createStdoutLogDestination() });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
for (let i = 0; i < ${LINES}; i += 1) {
  logger.info({ endpoint: "validate", uid: "u".repeat(300), i }, "admission");
  await sleep(3);
}
await sleep(300);
process.stderr.write(JSON.stringify({ writes }) + "\\n");
logger.info("lone");
process.stderr.write("lone logged\\n");
await sleep(1500);
process.stderr.write("exiting\\n");
`;

interface Timed {
  readonly at: number;
  readonly text: string;
}

describe("serve's stdout log destination", () => {
  it("writes sequentially logged lines in batches, and a lone line within the interval", async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: Timed[] = [];
    const stderr: Timed[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      stdout.push({ at: performance.now(), text: chunk.toString("utf8") });
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr.push({ at: performance.now(), text: chunk.toString("utf8") });
    });
    const [code] = (await once(child, "close")) as [number | null];
    const errText = stderr.map((c) => c.text).join("");
    expect(code, errText).toBe(0);

    const lines = stdout
      .map((c) => c.text)
      .join("")
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { msg: string; i?: number });
    expect(lines.filter((l) => l.msg === "admission").map((l) => l.i)).toEqual(
      Array.from({ length: LINES }, (_, i) => i),
    );
    // ~400-byte lines in 4 KiB batches: about LINES / 10 writes, plus a few flushes on the
    // interval. One write per line (no batching) would be LINES.
    const { writes } = JSON.parse(errText.split("\n")[0] ?? "") as { writes: number };
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(LINES / 3);

    const logged = stderr.find((c) => c.text.includes("lone logged"));
    const exiting = stderr.find((c) => c.text.includes("exiting"));
    const lone = stdout.find((c) => c.text.includes('"msg":"lone"'));
    expect(logged && exiting && lone).toBeTruthy();
    // Out before the process began to exit (1.5 s later), so not by the exit flush.
    expect(lone?.at ?? Infinity).toBeLessThan(exiting?.at ?? 0);
    expect((lone?.at ?? Infinity) - (logged?.at ?? 0)).toBeLessThan(1000);
  }, 20_000);
});

describe("serve's stdout log destination at exit", () => {
  // Fewer lines than a batch, logged just before the process ends: none may be lost, whether the
  // event loop runs dry or process.exit() cuts it.
  const EXITING = `
const { createLogger, createStdoutLogDestination } = await import(${JSON.stringify(LOGGER)});
const logger = createLogger({ destination: createStdoutLogDestination() });
for (let i = 0; i < 5; i += 1) logger.info({ i }, "last words");
if (process.argv.includes("--exit")) process.exit(0);
`;

  it.each([
    ["the event loop runs dry", []],
    ["process.exit()", ["--exit"]],
  ])("writes every pending line when %s", async (_name, args) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", EXITING, "--", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    const [code] = (await once(child, "close")) as [number | null];
    expect(code).toBe(0);
    const lines = stdout
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { msg: string; i: number });
    expect(lines.map((l) => [l.msg, l.i])).toEqual([0, 1, 2, 3, 4].map((i) => ["last words", i]));
  });
});
