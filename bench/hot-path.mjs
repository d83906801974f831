// The admission hot path: stsguard's webhook port against the bare baseline's, each in its own
// process, with the recorded kube-apiserver 1.26 requests: throughput over keep-alive
// connections in alternating rounds, sequential latency interleaved request by request, and
// latency against offered load for the chart.
import { readFile } from "node:fs/promises";
import { Agent } from "node:https";
import { join } from "node:path";
import {
  measureSequentialLatency,
  measureThroughput,
  median,
  percentile,
  postReview,
} from "./admission.mjs";
import { measureAtRate } from "./load-chart.mjs";

// Short alternating throughput rounds and request-by-request interleaved latency samples: on a
// small shared machine, noise comes in bursts, and this spreads each burst over both servers.
export const FULL_SETTINGS = {
  connections: 10,
  warmupSeconds: 2,
  warmupRequests: 8_000,
  durationSeconds: 3,
  throughputRounds: 5,
  latencyCount: 6_000,
  loadSeconds: 3,
};
export const QUICK_SETTINGS = {
  ...FULL_SETTINGS,
  warmupSeconds: 1,
  warmupRequests: 500,
  durationSeconds: 1,
  throughputRounds: 1,
  latencyCount: 500,
  loadSeconds: 1,
};
// Offered loads of the latency chart, as fractions of the baseline's measured throughput.
const LOAD_FRACTIONS = [0.1, 0.25, 0.5, 0.75, 0.9];

/**
 * Recorded kube-apiserver 1.26 requests (copies of test/fixtures/admission-reviews): a per-pod
 * LoadBalancer Service to /mutate (patched) and /validate (denied: Cluster traffic policy, no
 * labels), a headless Service (not judged) and a StatefulSet (a warning: its governing Service
 * is missing), cycled in this order: every kind of answer stsguard gives.
 */
export const REQUEST_FIXTURES = [
  { file: "service-create-loadbalancer.at-mutating.json", path: "/mutate" },
  { file: "service-create-loadbalancer.at-validating.json", path: "/validate" },
  { file: "service-create-headless.at-validating.json", path: "/validate" },
  { file: "statefulset-create.at-validating.json", path: "/validate" },
];

export async function loadRequests(bench) {
  return Promise.all(
    REQUEST_FIXTURES.map(async ({ file, path }) => {
      const review = JSON.parse(await readFile(join(bench, "fixtures", file), "utf8"));
      return { name: file, path, body: JSON.stringify(review), uid: review.request.uid };
    }),
  );
}

function decodePatch(response) {
  return response.patch ? JSON.parse(Buffer.from(response.patch, "base64").toString("utf8")) : [];
}

/**
 * Proves stsguard does the real work before it is timed: the StatefulSet lookup finds demo/web
 * among the 10,000 in its cache and the mutation produces a patch.
 */
async function checkStsguardAnswers(port, ca, requests) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const answers = [];
  try {
    for (const r of requests) {
      const { status, review } = await postReview(agent, port, ca, r);
      const response = review?.response ?? {};
      if (status !== 200 || response.uid !== r.uid) {
        throw new Error(`stsguard ${r.path} ${r.name}: status ${status}, uid ${response.uid}`);
      }
      const text = JSON.stringify(response);
      if (text.includes("statefulset-not-found")) {
        throw new Error(`stsguard did not find demo/web among the cached StatefulSets: ${text}`);
      }
      answers.push({
        request: `${r.path} ${r.name}`,
        allowed: response.allowed,
        patchOperations: decodePatch(response).length,
        warnings: response.warnings?.length ?? 0,
      });
    }
  } finally {
    agent.destroy();
  }
  if (answers[0].patchOperations === 0) {
    throw new Error("stsguard /mutate of a per-pod LoadBalancer Service returned no patch");
  }
  return answers;
}

function checkThroughputRun(name, run) {
  if (run.non2xx > 0 || run.errors > 0) {
    throw new Error(`${name}: ${run.non2xx} non-2xx answers, ${run.errors} errors`);
  }
}

/**
 * Measures `servers` ({ baseline: port, stsguard: port }); returns figures, ratios
 * stsguard/baseline and the latency-by-load runs.
 */
export async function measureHotPath({ servers, ca, requests, settings, log }) {
  const answers = await checkStsguardAnswers(servers.stsguard, ca, requests);
  const named = [
    { name: "baseline", port: servers.baseline },
    { name: "stsguard", port: servers.stsguard },
  ];
  const ports = named.map((s) => s.port);

  log(`hot path: warming up (${settings.warmupRequests} sequential requests each, then load)...`);
  // Long enough for V8 to have optimised stsguard's request path (a webhook runs for days).
  await measureSequentialLatency({ ports, ca, requests, count: settings.warmupRequests });
  for (const server of named) {
    const run = await measureThroughput({
      port: server.port,
      requests,
      connections: settings.connections,
      durationSeconds: settings.warmupSeconds,
    });
    checkThroughputRun(server.name, run);
  }

  const throughput = { baseline: [], stsguard: [] };
  for (let round = 0; round < settings.throughputRounds; round += 1) {
    // Alternate which server goes first so drift (thermal, other load) hits both alike.
    const order = round % 2 === 0 ? named : [...named].reverse();
    for (const server of order) {
      log(`hot path: throughput round ${round + 1}/${settings.throughputRounds}, ${server.name}`);
      const run = await measureThroughput({
        port: server.port,
        requests,
        connections: settings.connections,
        durationSeconds: settings.durationSeconds,
      });
      checkThroughputRun(server.name, run);
      throughput[server.name].push(run.requestsPerSecond);
    }
  }

  log(`hot path: sequential latency, ${settings.latencyCount} requests to each server...`);
  const [baselineLatency, stsguardLatency] = await measureSequentialLatency({
    ports,
    ca,
    requests,
    count: settings.latencyCount,
  });
  const latency = { baseline: baselineLatency, stsguard: stsguardLatency };

  // Latency against offered load: fractions of what the baseline sustained, alternating.
  const baselineRate = median(throughput.baseline);
  const byLoad = { baseline: [], stsguard: [] };
  for (const fraction of LOAD_FRACTIONS) {
    const rate = Math.max(50, Math.round((baselineRate * fraction) / 50) * 50);
    const order = byLoad.baseline.length % 2 === 0 ? named : [...named].reverse();
    for (const server of order) {
      log(`hot path: ${rate} req/s offered to ${server.name}`);
      byLoad[server.name].push(
        await measureAtRate({
          port: server.port,
          requests,
          connections: settings.connections,
          rate,
          durationSeconds: settings.loadSeconds,
        }),
      );
    }
  }

  const summarize = (name) => ({
    requestsPerSecondRuns: throughput[name].map((v) => Math.round(v)),
    requestsPerSecond: Math.round(median(throughput[name])),
    latencySamples: latency[name].length,
    p50Ms: round(percentile(latency[name], 50), 3),
    p99Ms: round(percentile(latency[name], 99), 3),
  });
  const baseline = summarize("baseline");
  const stsguard = summarize("stsguard");
  // Each round's ratio compares two runs made seconds apart; their median resists drift.
  const roundRatios = throughput.stsguard.map((v, i) => v / throughput.baseline[i]);
  return {
    settings,
    requests: REQUEST_FIXTURES.map((r) => `${r.path} ${r.file}`),
    stsguardAnswers: answers,
    baseline,
    stsguard,
    latencyByLoad: byLoad,
    ratios: {
      throughputRounds: roundRatios.map((r) => round(r, 2)),
      throughput: round(median(roundRatios), 2),
      p50: round(stsguard.p50Ms / baseline.p50Ms, 2),
      p99: round(stsguard.p99Ms / baseline.p99Ms, 2),
    },
  };
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
