// `stsguard check` (the built CLI) with modes: exit codes per mode, and what it cannot know offline.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { makeTempDir, runBuiltCli } from "../cli/built-cli.js";
import { aService, aStatefulSet } from "../helpers/objects.js";

let temp: { dir: string; remove: () => Promise<void> };

beforeAll(async () => {
  // Builds dist/ first when it is stale (a lone `vitest run` of this file).
  await runBuiltCli(["--version"]);
  temp = await makeTempDir("check-guardrails-");
  const objects = (namespace: string) => [
    aStatefulSet({ name: "web", namespace, replicas: 2 }),
    aService({ namespace, podName: "web-1", name: "web-1-bad", noLabels: true }),
  ];
  for (const mode of ["enforce", "warn", "monitor", "off"]) {
    await writeFile(
      path.join(temp.dir, `${mode}.yaml`),
      objects("apps")
        .map((o) => stringify(o))
        .join("---\n"),
    );
    await writeFile(path.join(temp.dir, `${mode}.config.yaml`), `mode: ${mode}\n`);
  }
  await writeFile(
    path.join(temp.dir, "labels.config.yaml"),
    "mode: monitor\nnamespaces:\n  - selector: {matchLabels: {env: prod}}\n    mode: enforce\n",
  );
  await writeFile(
    path.join(temp.dir, "prod-ns.yaml"),
    stringify({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "apps", labels: { env: "prod" } },
    }),
  );
  await writeFile(
    path.join(temp.dir, "dev-ns.yaml"),
    stringify({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "apps", labels: { env: "dev" } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await temp.remove();
});

const check = (...args: string[]) => runBuiltCli(["check", ...args], { cwd: temp.dir });

describe("stsguard check in each mode", () => {
  it.each([
    {
      mode: "enforce",
      code: 1,
      strictCode: 1,
      shown: /error +missing-labels +Service apps\/web-1-bad/,
    },
    {
      mode: "warn",
      code: 0,
      strictCode: 1,
      shown: /warning +missing-labels +would have been denied \(namespace apps is in warn mode\)/,
    },
    { mode: "monitor", code: 0, strictCode: 0, shown: /No problems/ },
    { mode: "off", code: 0, strictCode: 0, shown: /No problems/ },
  ])("$mode: exit $code ($strictCode with --strict)", async ({ mode, code, strictCode, shown }) => {
    const run = await check("--config", `${mode}.config.yaml`, `${mode}.yaml`);
    expect(run.code).toBe(code);
    expect(run.stdout).toMatch(shown);
    const strict = await check("--strict", "--config", `${mode}.config.yaml`, `${mode}.yaml`);
    expect(strict.code).toBe(strictCode);
  });
});

describe("stsguard check with namespace label rules", () => {
  it("reads the labels from a Namespace object among the inputs", async () => {
    expect(
      (await check("--config", "labels.config.yaml", "enforce.yaml", "prod-ns.yaml")).code,
    ).toBe(1);
    expect(
      (await check("--config", "labels.config.yaml", "enforce.yaml", "dev-ns.yaml")).code,
    ).toBe(0);
  });

  it("without one, says so and checks as the strictest mode the rule could give", async () => {
    const run = await check("--config", "labels.config.yaml", "enforce.yaml");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "warning: Service apps/web-1-bad: namespace rule namespaces[0] selects by label, but namespace apps has no Namespace object among the inputs; checked as mode enforce (the strictest it could be)",
    );
  });
});
