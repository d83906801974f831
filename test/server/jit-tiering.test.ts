// `serve` lowers V8's TurboFan threshold so the request path is optimized within the first
// requests (src/server/jit-tiering.ts). Checked in a child Node with V8's natives syntax, on a
// function shaped like a handler (one branch of several taken per call) called once per
// event-loop turn, as a server calls its handler.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/objects.js";
import { TURBOFAN_INVOCATION_COUNT, turbofanThresholdFlag } from "../../src/server/jit-tiering.js";

const run = promisify(execFile);
const moduleUrl = new URL(`file://${join(repoRoot, "src/server/jit-tiering.ts")}`).href;

// 6,000 calls: past the lowered threshold for this function, far short of V8's default one.
const probe = (apply: boolean): string => `
const { optimizeHotPathSooner } = await import(${JSON.stringify(moduleUrl)});
if (${apply}) optimizeHotPathSooner();
function handle(request) {
  switch (request.kind) {
    case "Service": return { uid: request.uid, allowed: request.name.length < 64, warnings: [] };
    case "StatefulSet": { const n = request.replicas ?? 1; return { uid: request.uid, allowed: n >= 0, warnings: n > 10 ? ["many"] : [] }; }
    case "Scale": { const n = Number(request.replicas); return { uid: request.uid, allowed: Number.isInteger(n), warnings: n === 0 ? ["zero"] : [] }; }
    case "Pod": return { uid: request.uid, allowed: !request.name.startsWith("x"), warnings: request.name.includes("-") ? [] : ["name"] };
    default: return { uid: request.uid, allowed: true, warnings: ["unknown " + request.kind] };
  }
}
// Called through a function V8 never optimizes, so that handle is not inlined away.
function call() { return handle({ kind: "Service", uid: "u", name: "web-0" }); }
%NeverOptimizeFunction(call);
for (let i = 0; i < 6000; i += 1) await new Promise((resolve) => setImmediate(() => resolve(call())));
// Bit 6 of V8's optimization status: TurboFan code.
console.log((%GetOptimizationStatus(handle) & 64) !== 0 ? "turbofan" : "not turbofan");
`;

async function tierAfterCalls(apply: boolean, nodeFlags: string[] = []): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [
      "--allow-natives-syntax",
      // Compile on the main thread, so the status is read after the compile, never during.
      "--no-concurrent-recompilation",
      ...nodeFlags,
      "--input-type=module",
      "--eval",
      probe(apply),
    ],
    { cwd: repoRoot },
  );
  return stdout.trim();
}

describe("the TurboFan threshold of a long-running server", () => {
  it("is lowered unless the command line sets it, in either spelling", () => {
    expect(turbofanThresholdFlag([])).toBe(
      `--invocation-count-for-turbofan=${TURBOFAN_INVOCATION_COUNT}`,
    );
    expect(turbofanThresholdFlag(["--max-semi-space-size=4"])).not.toBeNull();
    expect(turbofanThresholdFlag(["--invocation-count-for-turbofan=100"])).toBeNull();
    expect(turbofanThresholdFlag(["--invocation_count_for_turbofan=100"])).toBeNull();
    expect(turbofanThresholdFlag(["--invocation-count-for-turbofan", "100"])).toBeNull();
  });

  it("is left alone on a Node line older than the one stsguard is tested on", () => {
    // Node 20's V8 printed "unrecognized flag --invocation-count-for-turbofan=500" at every start.
    expect(turbofanThresholdFlag([], "20.20.2")).toBeNull();
    expect(turbofanThresholdFlag([], "22.12.0")).toBeNull();
    expect(turbofanThresholdFlag([], "24.0.0")).not.toBeNull();
    expect(turbofanThresholdFlag([], process.versions.node)).toBe(
      `--invocation-count-for-turbofan=${TURBOFAN_INVOCATION_COUNT}`,
    );
  });

  it("gets a request-shaped function into TurboFan within calls that leave it in Maglev by default", async () => {
    const [lowered, byDefault] = await Promise.all([tierAfterCalls(true), tierAfterCalls(false)]);
    expect(lowered).toBe("turbofan");
    expect(byDefault).toBe("not turbofan");
  });

  it("leaves a threshold given on the command line alone", async () => {
    expect(await tierAfterCalls(true, ["--invocation-count-for-turbofan=100000"])).toBe(
      "not turbofan",
    );
  });
});
