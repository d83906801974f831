/**
 * Replays test/fixtures/apiserver-differences/policy-*.json: what the real API server answered
 * where our tests had assumed otherwise must still be what it answers (README there).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/paths.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import { serviceApi, type Answer, type Api, type ApiObject } from "./support/policies.js";

const DIR = path.join(repoRoot, "test/fixtures/apiserver-differences");

interface Fixture {
  readonly kubernetesVersion: string;
  readonly title: string;
  readonly assumed: string;
  readonly actual: string;
  readonly setup: readonly ApiObject[];
  readonly request: { readonly method: "POST"; readonly path: string; readonly body: ApiObject };
  readonly response: { readonly status: number; readonly body: Record<string, unknown> };
  readonly expect: {
    readonly status: number;
    readonly reason?: string;
    readonly message?: string;
    readonly messagePattern?: string;
    readonly object?: Record<string, unknown>;
  };
}

const files = readdirSync(DIR).filter((f) => f.startsWith("policy-") && f.endsWith(".json"));
const fixtures = files.map((file) => ({
  file,
  fixture: JSON.parse(readFileSync(path.join(DIR, file), "utf8")) as Fixture,
}));

let cluster: Cluster | undefined;
let api: Api | undefined;
let k8s: Cluster;
let client: Api;

beforeAll(async () => {
  k8s = cluster = await startCluster();
  client = api = serviceApi(k8s);
});

afterAll(async () => {
  api?.close();
  await cluster?.stop();
});

/** Does the answer have what the fixture expects? */
function matches(answer: Answer, want: Fixture["expect"]): boolean {
  if (answer.status !== want.status) return false;
  if (answer.kind === "admitted") {
    if (want.object === undefined) return true;
    try {
      expect(answer.object).toMatchObject(want.object);
      return true;
    } catch {
      return false;
    }
  }
  if (want.reason !== undefined && answer.reason !== want.reason) return false;
  if (want.message !== undefined && answer.statusMessage !== want.message) return false;
  if (
    want.messagePattern !== undefined &&
    !new RegExp(want.messagePattern).test(answer.statusMessage)
  ) {
    return false;
  }
  return true;
}

async function send(fixture: Fixture): Promise<Answer> {
  const match = /^\/api\/v1\/namespaces\/([^/]+)\/services\?dryRun=All$/.exec(fixture.request.path);
  if (!match?.[1]) throw new Error(`cannot replay POST ${fixture.request.path}`);
  return client.create(match[1], fixture.request.body);
}

describe("what the real API server does differently is still so", () => {
  it("has fixtures to replay", () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const { fixture } of fixtures) {
      expect(fixture.kubernetesVersion).toMatch(/^v1\.26\./);
      expect(fixture.response.status).toBe(fixture.expect.status);
    }
  });

  it.each(fixtures)("$file", async ({ fixture }) => {
    if (fixture.setup.length > 0) await k8s.apply(fixture.setup);
    const deadline = Date.now() + 30_000;
    let answer = await send(fixture);
    while (!matches(answer, fixture.expect) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await send(fixture);
    }
    expect({
      status: answer.status,
      ...(answer.kind === "admitted"
        ? {}
        : { reason: answer.reason, message: answer.statusMessage }),
    }).toMatchObject({
      status: fixture.expect.status,
      ...(fixture.expect.reason === undefined ? {} : { reason: fixture.expect.reason }),
      ...(fixture.expect.message === undefined ? {} : { message: fixture.expect.message }),
    });
    expect(matches(answer, fixture.expect)).toBe(true);
    for (const object of [...fixture.setup].reverse()) {
      const kind = String(object["kind"]).toLowerCase();
      const name = (object["metadata"] as { name: string }).name;
      await k8s.kubectl([
        "delete",
        `${kind}.admissionregistration.k8s.io`,
        name,
        "--ignore-not-found",
      ]);
    }
  });
});
