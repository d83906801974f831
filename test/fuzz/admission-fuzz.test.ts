// Property-based fuzzing of the webhook through its real HTTPS server: AdmissionReviews derived
// from the recorded fixtures with random edits (test/fuzz/review-arbitraries.ts). For every one:
// never a 5xx, the uid echoed, every patch applies strictly (RFC 6902) to request.object, a
// second mutate of the patched object changes nothing, and validate then finds nothing fixable.
//
// `npm test` runs FUZZ_RUNS samples, split over two policies (about ten seconds);
// `npm run bench:fuzz` runs 10,000.
// A failure prints the seed and path: `STSGUARD_FUZZ_SEED=<seed> STSGUARD_FUZZ_PATH=<path>`
// replays it.
import https from "node:https";
import fc from "fast-check";
import jsonPatch, { type Operation } from "fast-json-patch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createMemoryLogDestination } from "../../src/observability/logger.js";
import { RULE_IDS } from "../../src/policy/types.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { configFor, fixtureSource } from "../admission/admission-inputs.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { requestHttps, type Answer } from "../server/https-client.js";
import { buildReviewBody, reviewSamples } from "./review-arbitraries.js";

const FUZZ_RUNS = Number(process.env["STSGUARD_FUZZ_RUNS"] ?? 600);
const SEED = process.env["STSGUARD_FUZZ_SEED"];
const PATH = process.env["STSGUARD_FUZZ_PATH"];
// The rules whose findings the mutation fixes (DESIGN.md): after the patch, none may remain.
const FIXABLE_RULES = ["external-traffic-policy", "missing-labels"] as const;

// Two policies: the recorded cluster's defaults, and a newer cluster (externalTrafficPolicy on
// ClusterIP with externalIPs) with another label prefix and an extra fixed label.
const POLICIES = [
  { name: "defaults on 1.26", config: configFor("1.26") },
  {
    name: "1.36, prefix example.com, extra label team=platform",
    config: configFor("1.36", {
      policy: { labelPrefix: "example.com", extraLabels: [{ key: "team", value: "platform" }] },
    }),
  },
];

let certs: TestCertificates;
const servers: RunningServer[] = [];
let agent: https.Agent;

beforeAll(async () => {
  certs = await makeTestCertificates();
  for (const { config } of POLICIES) {
    servers.push(
      await startServer({
        source: fixtureSource(),
        config,
        logger: createLogger({ level: "silent", destination: createMemoryLogDestination() }),
        tls: { cert: certs.cert, key: certs.key },
        host: "127.0.0.1",
      }),
    );
  }
  agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: certs.caCert });
});

afterAll(async () => {
  agent.destroy();
  await Promise.all(servers.map((server) => server.close()));
});

interface ReviewResponse {
  readonly uid: unknown;
  readonly allowed: boolean;
  readonly patchType?: string;
  readonly patch?: string;
  readonly status?: { readonly message?: string };
  readonly warnings?: readonly string[];
}

function post(server: RunningServer, path: "/mutate" | "/validate", body: string): Promise<Answer> {
  return requestHttps(server.port, certs.caCert, path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
    agent,
  });
}

/** Checks what holds for every answer and returns the AdmissionReview response, if 200. */
function checkAnswer(answer: Answer, sent: Record<string, unknown>): ReviewResponse | null {
  if (answer.status >= 500) {
    throw new Error(`answered ${answer.status}: ${answer.text.slice(0, 500)}`);
  }
  if (answer.status !== 200) {
    // A bad request gets a Status that says why.
    expect(answer.json).toMatchObject({ kind: "Status", code: answer.status });
    return null;
  }
  const review = answer.json as { response?: ReviewResponse };
  if (review.response === undefined) throw new Error(`200 without a response: ${answer.text}`);
  const uid = (sent["request"] as Record<string, unknown> | undefined)?.["uid"];
  expect(review.response.uid).toBe(uid);
  return review.response;
}

function decodePatch(response: ReviewResponse): Operation[] {
  if (response.patch === undefined) return [];
  expect(response.patchType).toBe("JSONPatch");
  return JSON.parse(Buffer.from(response.patch, "base64").toString("utf8")) as Operation[];
}

/** Rule ids of fixable findings in a validate answer (denial message and warnings). */
function fixableFindings(response: ReviewResponse): string[] {
  const texts = [response.status?.message ?? "", ...(response.warnings ?? [])];
  return FIXABLE_RULES.filter((rule) => texts.some((text) => text.includes(`${rule}:`)));
}

describe.each(POLICIES.map((policy, index) => ({ ...policy, index })))(
  "fuzzed AdmissionReviews through the HTTPS server, $name",
  ({ index }) => {
    it("never answer 5xx, echo the uid, and patch strictly and once", async () => {
      const server = servers[index];
      if (!server) throw new Error("server did not start");
      expect(RULE_IDS).toEqual(expect.arrayContaining([...FIXABLE_RULES]));
      const property = fc.asyncProperty(reviewSamples, async (sample) => {
        const body = buildReviewBody(sample);
        // What the server parses: own __proto__ keys stay own keys, lone surrogates stay.
        const sent = JSON.parse(body) as Record<string, unknown>;
        const [mutated, validated] = await Promise.all([
          post(server, "/mutate", body),
          post(server, "/validate", body),
        ]);
        checkAnswer(validated, sent);
        const mutation = checkAnswer(mutated, sent);
        if (mutation === null) return;

        const request = sent["request"] as Record<string, unknown>;
        const operations = decodePatch(mutation);
        let fixed: unknown = request["object"];
        if (operations.length > 0) {
          // Strict: every operation well-formed and its path present, as the API server demands.
          fixed = jsonPatch.applyPatch(
            structuredClone(request["object"]),
            operations,
            true,
            false,
          ).newDocument;
        }
        const fixedBody = JSON.stringify({ ...sent, request: { ...request, object: fixed } });
        const [again, judged] = await Promise.all([
          post(server, "/mutate", fixedBody),
          post(server, "/validate", fixedBody),
        ]);
        const second = checkAnswer(again, sent);
        expect(second === null ? [] : decodePatch(second)).toEqual([]);
        const verdict = checkAnswer(judged, sent);
        if (verdict !== null) expect(fixableFindings(verdict)).toEqual([]);
      });
      await fc.assert(property, {
        numRuns: Math.ceil(FUZZ_RUNS / POLICIES.length),
        ...(SEED === undefined ? {} : { seed: Number(SEED) }),
        ...(PATH === undefined ? {} : { path: PATH }),
      });
    }, 120_000);
  },
);
