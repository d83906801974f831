/**
 * The container's memory limit as the kernel enforces it: cgroup v2 `memory.max`, else cgroup v1
 * `memory.limit_in_bytes`. Null when there is no limit (`max`, or v1's "unlimited" ~2^63) or no
 * cgroup file (not Linux, not in a container).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const CGROUP_ROOT = "/sys/fs/cgroup";

// cgroup v1 reports "no limit" as the largest page-aligned signed 64-bit number.
const V1_UNLIMITED = 2 ** 60;

export function readContainerMemoryLimit(root = CGROUP_ROOT): number | null {
  const candidates = [
    join(root, "memory.max"),
    join(root, "memory.limit_in_bytes"),
    join(root, "memory", "memory.limit_in_bytes"),
  ];
  for (const file of candidates) {
    let text: string;
    try {
      text = readFileSync(file, "utf8").trim();
    } catch {
      continue;
    }
    if (text === "max") return null;
    const bytes = Number(text);
    if (!Number.isSafeInteger(bytes) || bytes <= 0) continue;
    return bytes >= V1_UNLIMITED ? null : bytes;
  }
  return null;
}
