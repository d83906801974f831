import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fixturesDir, listFixtures, loadFixture, repoRoot } from "../helpers/objects.js";

// Spelled in pieces so that this file does not match its own search.
const outsideFolder = [".." + "/", "shared"].join("");

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe("a clone of the repository on its own", () => {
  it.each(["src", "test"])("has no path into the workspace's shared folder in %s/", (dir) => {
    const offenders = filesUnder(path.join(repoRoot, dir)).filter((file) =>
      readFileSync(file, "utf8").includes(outsideFolder),
    );
    expect(offenders.map((file) => path.relative(repoRoot, file))).toEqual([]);
  });

  it("reads the recorded AdmissionReviews from inside the repository", () => {
    expect(path.relative(repoRoot, fixturesDir)).toBe("test/fixtures/admission-reviews");
    const names = listFixtures();
    expect(names).toHaveLength(40);
    for (const name of names) {
      expect(loadFixture(name).apiVersion, name).toBe("admission.k8s.io/v1");
    }
  });

  it("keeps the provenance of every copied fixture folder beside it", () => {
    for (const dir of ["admission-reviews", "crds"]) {
      const readme = readFileSync(path.join(repoRoot, "test/fixtures", dir, "README.md"), "utf8");
      expect(readme, dir).toMatch(/copied unchanged on \d{4}-\d{2}-\d{2}/);
    }
  });
});
