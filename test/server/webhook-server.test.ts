import net from "node:net";
import jsonPatch from "fast-json-patch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import { parseReview } from "../../src/admission/review.js";
import { createMemoryLogDestination, createLogger } from "../../src/observability/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import type { StatefulSetSource } from "../../src/statefulsets/source.js";
import { aService, listFixtures, loadFixture } from "../helpers/objects.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { aReview, configFor, fixtureSource } from "../admission/admission-inputs.js";
import { postJson, requestHttp, requestHttps, startSlowPost, type Answer } from "./https-client.js";

const config = configFor("1.26");
let certs: TestCertificates;
let server: RunningServer;
const logs = createMemoryLogDestination();
let ready = false;
const source: StatefulSetSource = { ...fixtureSource(), isReady: () => ready };

beforeAll(async () => {
  certs = await makeTestCertificates();
  server = await startServer({
    source,
    config,
    logger: createLogger({ level: "debug", destination: logs }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
    port: 0,
    metricsPort: 0,
  });
});

afterAll(async () => {
  await server.close();
});

const post = (path: string, body: unknown): Promise<Answer> =>
  postJson(server.port, certs.caCert, path, body);

/** A request that must keep working after every bad one. */
async function expectStillServing(): Promise<void> {
  const answer = await post("/validate", loadFixture("service-create-loadbalancer.at-validating"));
  expect(answer.status).toBe(200);
  expect(answer.json).toMatchObject({ response: { allowed: false } });
}

interface ReviewAnswer {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; reason: string; message: string };
    patchType?: string;
    patch?: string;
    warnings?: string[];
  };
}

describe("POST /mutate and /validate over HTTPS", () => {
  const rows = listFixtures().map((name) => ({
    name,
    path: name.endsWith(".at-mutating") ? ("/mutate" as const) : ("/validate" as const),
  }));

  it.each(rows)("answers $name on $path like admit()", async ({ name, path }) => {
    const review = loadFixture(name);
    const answer = await post(path, review);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/json");
    const body = answer.json as ReviewAnswer;
    expect(body.apiVersion).toBe("admission.k8s.io/v1");
    expect(body.kind).toBe("AdmissionReview");
    expect(body.response.uid).toBe(review.request.uid);

    const request = parseReview(loadFixture(name));
    const expected = await admit(request, path === "/mutate" ? "mutate" : "validate", {
      source,
      config,
    });
    expect(body.response.allowed).toBe(expected.allowed);
    expect(body.response.status).toEqual(expected.status ?? undefined);
    expect(body.response.warnings).toEqual(
      expected.warnings.length > 0 ? expected.warnings : undefined,
    );
    if (expected.patch.length === 0) {
      expect(body.response).not.toHaveProperty("patch");
      expect(body.response).not.toHaveProperty("patchType");
      return;
    }
    expect(body.response.patchType).toBe("JSONPatch");
    const ops = JSON.parse(Buffer.from(body.response.patch ?? "", "base64").toString("utf8"));
    expect(ops).toEqual(expected.patch);
    // The patch applies to the object exactly as the API server sent it.
    expect(() =>
      jsonPatch.applyPatch(structuredClone(request.object), ops, true, false),
    ).not.toThrow();
  });

  it("denies an out-of-range ordinal with 403 Forbidden and the rule id", async () => {
    const object = aService({ podName: "web-7" });
    const answer = await post("/validate", aReview({ object }));
    expect((answer.json as ReviewAnswer).response).toMatchObject({
      allowed: false,
      status: { code: 403, reason: "Forbidden" },
    });
    expect((answer.json as ReviewAnswer).response.status?.message).toMatch(
      /^ordinal-out-of-range: Service demo\/web-7 selects pod web-7/,
    );
  });

  it("accepts the API server's ?timeout= query and a charset in Content-Type", async () => {
    const answer = await requestHttps(server.port, certs.caCert, "/validate?timeout=10s", {
      method: "POST",
      headers: { "Content-Type": "application/json; charset=utf-8" },
      body: JSON.stringify(loadFixture("service-create-headless.at-validating")),
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ response: { allowed: true } });
  });

  it("logs one line per admission with uid, operation, object, decision, rules and duration", async () => {
    const review = loadFixture("service-create-nodeport.at-validating");
    await post("/validate", review);
    const line = logs.records().find((r) => r["uid"] === review.request.uid);
    expect(line).toMatchObject({
      level: "info",
      msg: "admission",
      endpoint: "validate",
      operation: "CREATE",
      namespace: "demo",
      name: "web-0-np",
      kind: "Service",
      decision: "denied",
      rules: ["external-traffic-policy", "missing-labels"],
    });
    expect(typeof line?.["durationMs"]).toBe("number");
  });
});

describe("bad requests get a clear 4xx and the server keeps serving", () => {
  const fiveMegabytes = JSON.stringify({
    ...aReview(),
    padding: "x".repeat(5 * 1024 * 1024),
  });
  const withoutUid = aReview();
  delete (withoutUid["request"] as Record<string, unknown>)["uid"];
  const rows: {
    name: string;
    send: () => Promise<Answer>;
    status: number;
    message: RegExp;
  }[] = [
    {
      name: "a body that is not JSON",
      send: () => post("/validate", "{not json"),
      status: 400,
      message: /^request body is not valid JSON: /,
    },
    {
      name: "JSON that is not an AdmissionReview",
      send: () => post("/mutate", { apiVersion: "v1", kind: "Service" }),
      status: 400,
      message: /^bad AdmissionReview: expected kind AdmissionReview, got "Service"/,
    },
    {
      name: "an AdmissionReview v1beta1",
      send: () => post("/validate", { ...aReview(), apiVersion: "admission.k8s.io/v1beta1" }),
      status: 400,
      message: /admission\.k8s\.io\/v1beta1" is not supported/,
    },
    {
      name: "an AdmissionReview without request.uid",
      send: () => post("/validate", withoutUid),
      status: 400,
      message: /request\.uid must be a non-empty string/,
    },
    {
      name: "a 5 MB body with Content-Length",
      send: () => post("/validate", fiveMegabytes),
      status: 413,
      message: /^request body is larger than 3145728 bytes$/,
    },
    {
      name: "a 5 MB chunked body",
      send: () =>
        requestHttps(server.port, certs.caCert, "/mutate", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: fiveMegabytes,
          chunked: true,
        }),
      status: 413,
      message: /^request body is larger than/,
    },
    {
      name: "GET /mutate",
      send: () => requestHttps(server.port, certs.caCert, "/mutate"),
      status: 405,
      message: /^\/mutate accepts only POST$/,
    },
    {
      name: "a form-encoded body (curl -d without a Content-Type)",
      send: () =>
        requestHttps(server.port, certs.caCert, "/validate", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: JSON.stringify(aReview()),
        }),
      status: 415,
      message: /takes Content-Type application\/json/,
    },
    {
      name: "a Content-Type header named in capitals",
      send: () =>
        requestHttps(server.port, certs.caCert, "/validate", {
          method: "POST",
          headers: { "CONTENT-TYPE": "text/plain" },
          body: JSON.stringify(aReview()),
        }),
      status: 415,
      message: /takes Content-Type application\/json, not text\/plain$/,
    },
    {
      name: "a Content-Length header named in capitals, above the cap",
      send: () =>
        requestHttps(server.port, certs.caCert, "/validate", {
          method: "POST",
          headers: { "Content-Type": "application/json", "CONTENT-LENGTH": "4000000" },
          body: "x".repeat(4_000_000),
        }),
      status: 413,
      message: /^request body is larger than/,
    },
    {
      name: "an unknown path",
      send: () => requestHttps(server.port, certs.caCert, "/admit"),
      status: 404,
      message: /^no route for GET \/admit$/,
    },
  ];

  it.each(rows)("$name → $status", async ({ send, status, message }) => {
    const answer = await send();
    expect(answer.status).toBe(status);
    expect(answer.json).toMatchObject({ kind: "Status", status: "Failure", code: status });
    expect((answer.json as { message: string }).message).toMatch(message);
    await expectStillServing();
  });

  const safeRows = [
    {
      name: "a Service whose selector is a list",
      object: aService({ selector: ["statefulset.kubernetes.io/pod-name", "web-0"] }),
      patched: false,
    },
    {
      name: "a per-pod Service with labels: null",
      object: aService({ podName: "web-0", labels: null }),
      patched: true,
    },
    { name: "an object that is a string", object: "Service", patched: false },
  ];
  it.each(safeRows)("answers $name safely", async ({ object, patched }) => {
    const answer = await post("/mutate", aReview({ object }));
    expect(answer.status).toBe(200);
    const response = (answer.json as ReviewAnswer).response;
    expect(response.allowed).toBe(true);
    expect(response.patch !== undefined).toBe(patched);
    await expectStillServing();
  });

  // A bug thrown while answering from memory, and one in the promise of a read.
  const bugs: { name: string; broken: Partial<StatefulSetSource> }[] = [
    {
      name: "from memory",
      broken: {
        lookupCached: () => {
          throw new TypeError("a bug in the source");
        },
      },
    },
    {
      name: "in a read",
      broken: {
        lookupCached: () => null,
        lookup: () => Promise.reject(new TypeError("a bug in the source")),
      },
    },
  ];
  it.each(bugs)(
    "answers 500 when admission fails unexpectedly ($name), logs it, and keeps serving",
    async ({ broken: bug }) => {
      const broken: StatefulSetSource = { ...fixtureSource(), ...bug };
      const memory = createMemoryLogDestination();
      const other = await startServer({
        source: broken,
        config,
        logger: createLogger({ destination: memory }),
        tls: { cert: certs.cert, key: certs.key },
        host: "127.0.0.1",
      });
      try {
        const review = aReview({ object: aService({ podName: "web-0" }) });
        const answer = await postJson(other.port, certs.caCert, "/validate", review);
        expect(answer.status).toBe(500);
        expect(answer.json).toMatchObject({ kind: "Status", reason: "InternalError", code: 500 });
        const error = memory.records().find((r) => r["msg"] === "admission failed");
        expect(error?.["err"]).toMatchObject({ type: "TypeError", message: "a bug in the source" });
        const healthy = await postJson(other.port, certs.caCert, "/validate", aReview());
        expect(healthy.status).toBe(200);
      } finally {
        await other.close();
      }
    },
  );
});

describe("health, readiness and metrics", () => {
  it("answers /healthz on both ports", async () => {
    expect((await requestHttps(server.port, certs.caCert, "/healthz")).status).toBe(200);
    expect((await requestHttp(server.metricsPort ?? 0, "/healthz")).status).toBe(200);
  });

  it("answers /readyz 503 until the source is ready, then 200", async () => {
    ready = false;
    const before = await requestHttps(server.port, certs.caCert, "/readyz");
    expect(before.status).toBe(503);
    expect(before.text).toMatch(/not ready: the StatefulSet source has not synced yet/);
    expect((await requestHttp(server.metricsPort ?? 0, "/readyz")).status).toBe(503);
    ready = true;
    expect((await requestHttps(server.port, certs.caCert, "/readyz")).status).toBe(200);
    expect((await requestHttp(server.metricsPort ?? 0, "/readyz")).status).toBe(200);
  });

  it("counts admissions by endpoint, decision and rule, and reports readiness", async () => {
    ready = true;
    await post("/mutate", loadFixture("service-create-loadbalancer.at-mutating"));
    await post("/validate", aReview({ object: aService({ podName: "web-7" }) }));
    await post("/validate", "not json");
    const metrics = await requestHttp(server.metricsPort ?? 0, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /stsguard_admission_requests_total\{endpoint="mutate",decision="patched",mode="enforce"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /stsguard_admission_findings_total\{endpoint="validate",rule="ordinal-out-of-range",severity="error"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /stsguard_admission_requests_total\{endpoint="validate",decision="rejected",mode="none"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /stsguard_admission_duration_seconds_count\{endpoint="mutate"\} [1-9]/,
    );
    expect(metrics.text).toMatch(/^stsguard_statefulset_source_ready 1$/m);
  });

  it("keeps each server's metrics in its own registry", async () => {
    const other = await startServer({
      source,
      config,
      logger: createLogger({ destination: createMemoryLogDestination() }),
      tls: { cert: certs.cert, key: certs.key },
      host: "127.0.0.1",
      metricsPort: 0,
    });
    try {
      const text = (await requestHttp(other.metricsPort ?? 0, "/metrics")).text;
      // Its series start at zero (alerts rate() over them); none counts the other server's requests.
      expect(text).toMatch(/stsguard_admission_requests_total\{[^}]*\} 0$/m);
      expect(text).not.toMatch(/stsguard_admission_requests_total\{[^}]*\} [1-9]/);
    } finally {
      await other.close();
    }
  });
});

describe("graceful close", () => {
  it("finishes an in-flight request and refuses new connections", async () => {
    const own = await startServer({
      source,
      config,
      logger: createLogger({ destination: createMemoryLogDestination() }),
      tls: { cert: certs.cert, key: certs.key },
      host: "127.0.0.1",
    });
    const body = JSON.stringify(loadFixture("service-create-loadbalancer.at-validating"));
    const slow = startSlowPost(own.port, certs.caCert, "/validate", body);
    await slow.sent;
    await new Promise((resolve) => setTimeout(resolve, 100));

    const closing = own.close();
    await expect(connectOnce(own.port)).rejects.toThrow(/ECONNREFUSED/);
    slow.finish();
    const finished = await slow.answer;
    expect(finished.status).toBe(200);
    expect(finished.headers["connection"]).toBe("close");
    expect(finished.json).toMatchObject({ response: { allowed: false } });
    await closing;
  });
});

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve();
    });
    socket.on("error", reject);
  });
}
