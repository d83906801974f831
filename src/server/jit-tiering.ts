import { setFlagsFromString } from "node:v8";

/**
 * How much a function must run before V8 compiles it with TurboFan, its optimizing compiler:
 * about this many calls, when each call runs the whole function. V8's default, 3,000, suits
 * short scripts. A webhook runs its request path once per request, and only part of each
 * function on that path, so with the default the path sat in Maglev's (less optimized) code
 * for the first 10,000 requests and more; at a few requests a second, for hours.
 * At 500 it is in TurboFan's within the first thousand or two. That cut the time stsguard
 * adds to a Service CREATE by 0.02–0.04 of a bare webhook's round trip (docs/benchmarks.md).
 */
export const TURBOFAN_INVOCATION_COUNT = 500;

const FLAG = "--invocation-count-for-turbofan";

/**
 * The first Node line whose V8 the flag is set on: the line stsguard is tested on (package.json
 * `engines`). Node 20's V8 (11.3) has no such flag and printed `unrecognized flag` to stderr at
 * every start; on a line before this one V8 keeps its own threshold, silently.
 */
export const FIRST_NODE_MAJOR_WITH_FLAG = 24;

/**
 * The V8 flag to set for a long-running server, or null when the command line already sets
 * the threshold (`node --invocation-count-for-turbofan=N …` wins; V8 accepts `_` for `-`) or
 * the Node line is older than FIRST_NODE_MAJOR_WITH_FLAG.
 */
export function turbofanThresholdFlag(
  execArgv: readonly string[],
  nodeVersion: string = process.versions.node,
): string | null {
  if (Number(nodeVersion.split(".")[0]) < FIRST_NODE_MAJOR_WITH_FLAG) return null;
  const given = execArgv.some((arg) => {
    const name = (arg.split("=")[0] ?? "").replaceAll("_", "-");
    return name === FLAG;
  });
  return given ? null : `${FLAG}=${TURBOFAN_INVOCATION_COUNT}`;
}

/**
 * Lowers V8's TurboFan threshold for this process. `serve` calls it once its source has synced,
 * before the request path has run much. V8 reads the threshold each time it sets a function's
 * tier-up budget, so a change after start takes effect (Node does not freeze V8's flags).
 * Returns the flag set, or null.
 */
export function optimizeHotPathSooner(
  execArgv: readonly string[] = process.execArgv,
): string | null {
  const flag = turbofanThresholdFlag(execArgv);
  if (flag !== null) setFlagsFromString(flag);
  return flag;
}
