import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { resolveHelm } from "./helm.js";

const INSTALLER = fileURLToPath(new URL("../../scripts/install-tool.mjs", import.meta.url));

function runInstaller(tool = "helm"): { status: number | null; path: string; stderr: string } {
  const result = spawnSync(process.execPath, [INSTALLER, tool], { encoding: "utf8" });
  return { status: result.status, path: result.stdout.trim(), stderr: result.stderr };
}

describe("scripts/install-tool.mjs", () => {
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

  it("unpacks kubectl, which the end-to-end suite drives the API server with", () => {
    const kubectl = runInstaller("kubectl");
    expect(kubectl.status).toBe(0);
    expect(kubectl.path).toMatch(/[/\\]\.tools[/\\]bin[/\\]kubectl$/);
    const version = spawnSync(kubectl.path, ["version", "--client"], { encoding: "utf8" });
    expect(version.stdout).toMatch(/Client Version: v1\.\d+\.\d+/);
  });

  it("names the tools it has when asked for another", () => {
    const unknown = runInstaller("kustomize");
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe("install-tool: unknown tool kustomize: one of helm, kubectl\n");
  });
});
