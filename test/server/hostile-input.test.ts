// Requests no API server would send but anyone who reaches the port can: each gets a 4xx or a
// correct, bounded answer, never a 500, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_NESTING_DEPTH } from "../../src/admission/json-depth.js";
import { MAX_STATUS_MESSAGE_CHARS } from "../../src/admission/review.js";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { TRUNCATED_MARKER } from "../../src/policy/echo.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { aReview, configFor, fixtureSource } from "../admission/admission-inputs.js";
import { aService } from "../helpers/objects.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { postJson, type Answer } from "./https-client.js";

let certs: TestCertificates;
let server: RunningServer;
const logs = createMemoryLogDestination();

beforeAll(async () => {
  certs = await makeTestCertificates();
  server = await startServer({
    source: fixtureSource(),
    config: configFor("1.26"),
    logger: createLogger({ level: "info", destination: logs }),
    tls: { cert: certs.cert, key: certs.key },
    host: "127.0.0.1",
  });
});

afterAll(async () => {
  await server.close();
});

interface ReviewAnswer {
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; message: string };
    warnings?: string[];
    patch?: string;
  };
}

/** `depth` nested lists around a string, as JSON text: JSON.parse reads any depth. */
function nestedJson(depth: number): string {
  return "[".repeat(depth) + '"web-0"' + "]".repeat(depth);
}

/** A review whose object's pod-name selector is the raw JSON `valueJson`. */
function reviewWithRawSelector(valueJson: string): string {
  const marker = "__SELECTOR_VALUE__";
  const text = JSON.stringify(
    aReview({ object: aService({ name: "per-pod", podName: marker, labels: {} }) }),
  );
  return text.replace(`"${marker}"`, valueJson);
}

const post = (path: string, body: unknown): Promise<Answer> =>
  postJson(server.port, certs.caCert, path, body);

describe.each(["/mutate", "/validate"])("hostile input on %s", (path) => {
  it("answers 400 for a pod-name selector nested 5,000 levels deep (a 10 KB body)", async () => {
    const answer = await post(path, reviewWithRawSelector(nestedJson(5_000)));
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({
      message: expect.stringMatching(
        new RegExp(
          `^request body nests deeper than ${MAX_NESTING_DEPTH} levels \\(at byte \\d+\\); ` +
            `no Kubernetes object stsguard judges comes near that$`,
        ),
      ) as unknown,
    });
  });

  it("answers 400 for deep nesting anywhere in the request, up to a body of brackets", async () => {
    for (const field of ["oldObject", "options", "userInfo"]) {
      const marker = "__DEEP__";
      const review = aReview({ object: aService() });
      (review["request"] as Record<string, unknown>)[field] = marker;
      const body = JSON.stringify(review).replace(`"${marker}"`, nestedJson(200_000));
      const answer = await post(path, body);
      expect(answer.status).toBe(400);
      expect((answer.json as { message: string }).message).toMatch(/nests deeper than/);
    }
    // 1.4 million levels in a 2.8 MB body: rejected before JSON.parse would spend seconds on it.
    const brackets = await post(path, reviewWithRawSelector(nestedJson(1_400_000)));
    expect(brackets.status).toBe(400);
  });

  it("judges nesting below the bound like any other malformed pod name", async () => {
    const answer = await post(path, reviewWithRawSelector(nestedJson(MAX_NESTING_DEPTH - 10)));
    expect(answer.status).toBe(200);
    const { response } = answer.json as ReviewAnswer;
    expect(response.uid).toBe("0b6e7c2a-5f0e-4c55-9d2b-6d7f3e0a1c42");
    if (path === "/validate") {
      expect(response.allowed).toBe(false);
      expect(response.status?.message).toMatch(/^malformed-pod-name: .* selects pod a list of 1,/);
    }
  });

  it("cuts a 1.4 MB selector value short in the answer, with a marker", async () => {
    const huge = "w".repeat(1_400_000);
    const object = aService({ name: "per-pod", podName: huge, labels: {} });
    const answer = await post(path, aReview({ object }));
    expect(answer.status).toBe(200);
    expect(answer.text.length).toBeLessThan(4_000);
    const { response } = answer.json as ReviewAnswer;
    if (path === "/validate") {
      expect(response.allowed).toBe(false);
      expect(response.status?.message).toContain(`"${"w".repeat(256)}${TRUNCATED_MARKER}"`);
    }
  });

  it("cuts a huge name and selector entry short everywhere they are echoed", async () => {
    const name = "n".repeat(300_000);
    const object = aService({ podName: "web-0", extraSelector: { ["k".repeat(100_000)]: "v" } });
    (object["metadata"] as Record<string, unknown>)["name"] = name;
    const answer = await post(path, aReview({ object, name }));
    expect(answer.status).toBe(200);
    const { response } = answer.json as ReviewAnswer;
    const text = [response.status?.message ?? "", ...(response.warnings ?? [])].join("\n");
    if (path === "/validate") {
      expect(response.status?.message).toContain(TRUNCATED_MARKER);
      expect(response.status?.message.length).toBeLessThanOrEqual(
        MAX_STATUS_MESSAGE_CHARS + TRUNCATED_MARKER.length,
      );
    }
    expect(text).not.toContain("n".repeat(257));
    // The log line names the object, cut short as well.
    const line = logs
      .records()
      .map((record) => JSON.stringify(record))
      .find((l) => l.includes('"msg":"admission"') && l.includes("nnnn"));
    expect(line).toBeDefined();
    expect(line?.length ?? 0).toBeLessThan(2_000);
  });

  it("answers pod names in every odd shape without a 500", async () => {
    const values: unknown[] = [
      "",
      "-0",
      "web-",
      "web--1",
      "web-01",
      "web-9999999999999",
      "WEB-0",
      "wéb-0",
      "web-0\u0000",
      "\ud800-0",
      "constructor-0",
      "__proto__-0",
      0,
      -1,
      1e308,
      true,
      null,
      {},
      { __proto__: "web-0" },
      [],
    ];
    for (const podName of values) {
      const answer = await post(path, aReview({ object: aService({ podName }) }));
      expect([200, 400]).toContain(answer.status);
      if (answer.status === 200) {
        expect((answer.json as ReviewAnswer).response.uid).toBe(
          "0b6e7c2a-5f0e-4c55-9d2b-6d7f3e0a1c42",
        );
      }
    }
  });
});

it("keeps serving after all of it", async () => {
  const answer = await post("/validate", aReview({ object: aService({ podName: "web-7" }) }));
  expect(answer.status).toBe(200);
  expect((answer.json as ReviewAnswer).response.allowed).toBe(false);
  expect(logs.records().filter((record) => record["status"] === 500)).toEqual([]);
});
