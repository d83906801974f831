// The built `stsguard serve` against a cluster (the local list/watch API server): namespace
// labels come from the namespace cache, and a namespace relabelled from sandbox to prod moves
// from warn to enforce while the server runs.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBuiltCli } from "../cli/built-cli.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { waitFor } from "../helpers/wait-for.js";
import { postJson, requestHttp } from "../server/https-client.js";
import { startServeProcess, type ServeProcess } from "../server/serve-process.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";

const CONFIG = `
mode: enforce
labelsMayLowerIn: [demo]
namespaces:
  - selector: {matchLabels: {env: sandbox}}
    mode: warn
`;

const namespace = (labels: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: "demo", labels },
});

describe("serve against a cluster: modes from namespace labels", () => {
  let fake: FakeApiServer;
  let serve: ServeProcess;
  let port = 0;
  let metricsPort = 0;
  let ca = "";

  beforeAll(async () => {
    await runBuiltCli(["--version"]);
    fake = await FakeApiServer.start();
    fake.setVersion({ major: "1", minor: "30", gitVersion: "v1.30.2" });
    fake.apply("namespaces", namespace({ env: "sandbox" }));
    fake.apply("statefulsets", aStatefulSet({ name: "web", replicas: 2 }));
    serve = await startServeProcess(
      ["--config", "config.yaml"],
      {},
      {
        sourceArgs: ["--kubeconfig", "kubeconfig.yaml"],
        prepare: async (dir) => {
          await writeFile(path.join(dir, "kubeconfig.yaml"), renderKubeconfig(fake.url));
          await writeFile(path.join(dir, "config.yaml"), CONFIG);
        },
      },
    );
    ({ port, metricsPort, ca } = serve);
    await waitFor(
      "readiness",
      async () => (await requestHttp(metricsPort, "/readyz")).status === 200,
      10_000,
    );
  }, 120_000);

  afterAll(async () => {
    await serve.dispose();
    await fake.close();
  });

  const validate = async () => {
    const answer = await postJson(port, ca, "/validate", {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "cluster",
        kind: { group: "", version: "v1", kind: "Service" },
        namespace: "demo",
        name: "web-5",
        operation: "CREATE",
        userInfo: { username: "alice", groups: [] },
        object: aService({ podName: "web-5" }),
      },
    });
    return (answer.json as { response: { allowed: boolean; warnings?: string[] } }).response;
  };

  it("watches Namespaces, and is ready once they are listed", () => {
    expect(fake.watchRequests("namespaces").length).toBeGreaterThan(0);
  });

  it("warns in a namespace labelled sandbox", async () => {
    const response = await validate();
    expect(response.allowed).toBe(true);
    expect(response.warnings?.[0]).toMatch(
      /^ordinal-out-of-range: would have been denied \(namespace demo is in warn mode\)/,
    );
  });

  it("denies once the namespace is relabelled prod, without a restart", async () => {
    fake.apply("namespaces", namespace({ env: "prod" }));
    await waitFor("the relabel", async () => !(await validate()).allowed, 5_000);
    expect(serve.child.exitCode).toBeNull();
  });
});
