import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { resolveHelm } from "./helm.js";

const INSTALLER = fileURLToPath(new URL("../../scripts/install-helm.mjs", import.meta.url));

function runInstaller(): { status: number | null; path: string } {
  const result = spawnSync(process.execPath, [INSTALLER], { encoding: "utf8" });
  return { status: result.status, path: result.stdout.trim() };
}

describe("scripts/install-helm.mjs", () => {
  it("unpacks an executable helm 3 into .tools/bin and prints its path", () => {
    const helm = resolveHelm();
    expect(helm).toMatch(/[/\\]\.tools[/\\]bin[/\\]helm$/);
    expect(statSync(helm).mode & 0o111).not.toBe(0);
    const version = spawnSync(helm, ["version", "--short"], { encoding: "utf8" });
    expect(version.stdout).toMatch(/^v3\.\d+\.\d+/);
  });

  it("keeps an intact binary instead of writing it again", () => {
    const first = runInstaller();
    const before = statSync(first.path);
    const second = runInstaller();
    expect([first.status, second.status]).toEqual([0, 0]);
    expect(second.path).toBe(first.path);
    expect(statSync(second.path).mtimeMs).toBe(before.mtimeMs);
    expect(statSync(second.path).ino).toBe(before.ino);
  });
});
