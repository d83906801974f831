import { describe, expect, it } from "vitest";
import { LookupError } from "../../src/errors.js";
import { fetchKubeVersion, parseVersionInfo } from "../../src/kube/server-version.js";
import type { FakeApiServer } from "../helpers/fake-apiserver.js";
import { startServer } from "./harness.js";

describe("parseVersionInfo", () => {
  it.each([
    {
      name: "plain major and minor",
      body: { major: "1", minor: "30", gitVersion: "v1.30.2" },
      expected: { major: 1, minor: 30 },
    },
    {
      name: "a managed cluster's minor with +",
      body: { major: "1", minor: "29+", gitVersion: "v1.29.3-eks-adc7111" },
      expected: { major: 1, minor: 29 },
    },
    {
      name: "empty major/minor: gitVersion",
      body: { major: "", minor: "", gitVersion: "v1.31.2+k3s1" },
      expected: { major: 1, minor: 31 },
    },
    {
      name: "no minor: gitVersion",
      body: { major: "1", gitVersion: "v1.28.15-gke.1020000" },
      expected: { major: 1, minor: 28 },
    },
    {
      name: "gitVersion without a v",
      body: { gitVersion: "1.27.0" },
      expected: { major: 1, minor: 27 },
    },
    { name: "nothing usable", body: { major: "one", gitVersion: "main" }, expected: null },
    { name: "not an object", body: "v1.30.0", expected: null },
  ])("$name", ({ body, expected }) => {
    expect(parseVersionInfo(body)).toEqual(expected);
  });
});

// A real API server's /version (1.26 here) is read by serve and check --cluster in the e2e
// suite. Why a test API server: it answers with a provider's version (minor "29+"), with 500, with
// a body that has no version and too late, which the real one cannot be made to.
describe("fetchKubeVersion", () => {
  it.each([
    {
      name: "reads an EKS-style 29+",
      body: { major: "1", minor: "29+", gitVersion: "v1.29.3-eks-1" },
      expected: { major: 1, minor: 29 },
    },
  ])("$name from GET /version", async ({ body, expected }) => {
    const server = await startServer(() => undefined);
    server.setVersion(body);
    expect(await fetchKubeVersion(server.kubeConfig())).toEqual(expected);
    expect(server.requests.map((r) => r.path)).toEqual(["/version"]);
  });

  it.each([
    {
      name: "an HTTP error",
      setup: (server: FakeApiServer) => {
        server.failReads(500);
      },
      message: /\/version: HTTP 500 InternalError/,
    },
    {
      name: "a body without a version",
      setup: (server: FakeApiServer) => {
        server.setVersion({ platform: "linux/amd64" });
      },
      message: /no Kubernetes version/,
    },
    {
      name: "no answer before the deadline",
      setup: (server: FakeApiServer) => {
        server.delayReads(5_000);
      },
      message: /no answer within 100 ms/,
    },
  ])("throws a LookupError on $name", async ({ setup, message }) => {
    const server = await startServer(() => undefined);
    setup(server);
    const started = Date.now();
    const failure = fetchKubeVersion(server.kubeConfig(), { timeoutMs: 100 });
    await expect(failure).rejects.toBeInstanceOf(LookupError);
    await expect(failure).rejects.toThrow(message);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
