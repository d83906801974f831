// The cluster benchmarks: `stsguard serve --kubeconfig` (the built CLI, as the chart runs it,
// with the chart's `nodeOptions` as NODE_OPTIONS) against bench/fake-apiserver.mjs holding 10,000 StatefulSets
// and 10,000 per-pod Services over real list/watch HTTP, each in its own process.
//
// - start: time from spawn until /readyz answers 200, and RSS at that moment;
// - live reads: sequential Service CREATEs to /validate, interleaved request by request with
//   the bare baseline webhook, while namespaced GETs on the API server take `readDelayMs`
//   (a realistic round trip); the ratio stsguard/baseline of what each adds per request, when
//   the StatefulSet exists and when it does not (yet), and how many live reads each case cost;
// - memory: rounds of 32 concurrent ~3 MB reviews, RSS sampled throughout, against the chart's
//   memory limit, with the body budget the chart's limit gives.
import { fork, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { Agent } from "node:https";
import { join } from "node:path";
import { measureSequentialLatency, median, percentile, postReview } from "./admission.mjs";

const MiB = 1024 * 1024;
const STATEFULSET_COUNT = 10_000;

/** The chart's default memory limit, read from charts/stsguard/values.yaml. */
export async function readChartMemoryLimit(root) {
  const { parse } = await import("yaml");
  const values = parse(await readFile(join(root, "charts/stsguard/values.yaml"), "utf8"));
  return parseQuantity(values.resources.limits.memory);
}

/** NODE_OPTIONS as the image sets it (Dockerfile `ENV NODE_OPTIONS=...`), or "". */
export async function readImageNodeOptions(root) {
  const dockerfile = await readFile(join(root, "Dockerfile"), "utf8");
  return /^ENV NODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? "";
}

/** NODE_OPTIONS of the webhook as the chart runs it (`nodeOptions`), or else the image's. */
export async function readWebhookNodeOptions(root) {
  const { parse } = await import("yaml");
  const values = parse(await readFile(join(root, "charts/stsguard/values.yaml"), "utf8"));
  return values.nodeOptions || (await readImageNodeOptions(root));
}

function parseQuantity(text) {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(text));
  if (!match) throw new Error(`chart memory limit "${text}" is not a Ki/Mi/Gi quantity`);
  const unit = { Ki: 1024, Mi: MiB, Gi: 1024 * MiB }[match[2]] ?? 1;
  return Number(match[1]) * unit;
}

function readProcStatus(pid) {
  return readFile(`/proc/${pid}/status`, "utf8").then((text) => {
    const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { rssBytes: kib("VmRSS") * 1024, peakRssBytes: kib("VmHWM") * 1024 };
  });
}

async function startFakeApiServer(bench, readDelayMs) {
  const child = fork(
    join(bench, "fake-apiserver.mjs"),
    [String(STATEFULSET_COUNT), String(readDelayMs)],
    {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    },
  );
  const [message] = await once(child, "message");
  if (message?.type !== "ready") throw new Error("fake API server did not start");
  return { child, port: message.port };
}

async function apiServerRequests(apiServer) {
  const reply = new Promise((resolve) => {
    const onMessage = (message) => {
      if (message?.type === "requests") {
        apiServer.child.off("message", onMessage);
        resolve(message);
      }
    };
    apiServer.child.on("message", onMessage);
  });
  apiServer.child.send("requests");
  return reply;
}

async function writeKubeconfig(file, port) {
  await writeFile(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: bench",
      "    cluster:",
      `      server: http://127.0.0.1:${port}`,
      "      insecure-skip-tls-verify: true",
      "users:",
      "  - name: bench",
      "    user:",
      "      token: bench-token",
      "contexts:",
      "  - name: bench",
      "    context: { cluster: bench, user: bench }",
      "current-context: bench",
      "",
    ].join("\n"),
  );
}

/** Spawns the built CLI's `serve`; resolves with its ports once /readyz answers 200. */
async function startStsguard({ root, kubeconfig, certs, nodeOptions, bodyBudgetBytes, logFile }) {
  const log = await import("node:fs").then((fs) => fs.openSync(logFile, "w"));
  const started = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [
      join(root, "dist", "cli.js"),
      "serve",
      "--kubeconfig",
      kubeconfig,
      "--tls-cert",
      certs.cert,
      "--tls-key",
      certs.key,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--metrics-port",
      "0",
      "--body-budget",
      String(bodyBudgetBytes),
    ],
    {
      cwd: root,
      stdio: ["ignore", log, "pipe"],
      env: { ...process.env, NODE_ENV: "production", NODE_OPTIONS: nodeOptions },
    },
  );
  // Spawned without an IPC channel: make sure it does not outlive an interrupted benchmark.
  const killChild = () => child.kill("SIGKILL");
  process.once("exit", killChild);
  child.once("exit", () => process.off("exit", killChild));
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += String(chunk);
  });
  const exited = once(child, "exit");
  const deadline = Date.now() + 60_000;
  let ports = null;
  while (Date.now() < deadline && child.exitCode === null) {
    const port = /stsguard webhook: https:\/\/[^\s:]+:(\d+)/.exec(stderr)?.[1];
    const metricsPort = /metrics: +http:\/\/[^\s:]+:(\d+)/.exec(stderr)?.[1];
    if (port && metricsPort) {
      ports ??= { port: Number(port), metricsPort: Number(metricsPort) };
      const ready = await globalThis
        .fetch(`http://127.0.0.1:${metricsPort}/readyz`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ready) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const readySeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (child.exitCode !== null || !ports || Date.now() >= deadline) {
    child.kill("SIGKILL");
    throw new Error(`stsguard serve --kubeconfig did not become ready: ${stderr.slice(-2000)}`);
  }
  const atReady = await readProcStatus(child.pid);
  return { child, exited, ...ports, readySeconds, rssAtReadyBytes: atReady.rssBytes };
}

async function liveReadsTotal(metricsPort) {
  const text = await globalThis
    .fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    .then((r) => r.text());
  return text
    .split("\n")
    .filter((line) => line.startsWith("stsguard_live_reads_total{"))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

async function bodyBudgetCounters(metricsPort) {
  const text = await globalThis
    .fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    .then((r) => r.text());
  const value = (name) =>
    Number(
      text
        .split("\n")
        .find((l) => l.startsWith(`${name} `))
        ?.split(" ")[1] ?? 0,
    );
  return {
    waits: value("stsguard_body_budget_waits_total"),
    rejections: value("stsguard_body_budget_rejections_total"),
  };
}

/**
 * A recorded Service CREATE (bench/fixtures), turned into a per-pod Service for `pod` that
 * breaks no rule: labelled, `externalTrafficPolicy: Local`. Only `statefulset-not-found` can
 * fire, and only as the warning it is by default.
 */
async function serviceCreate(bench, pod, uid, annotations = {}) {
  const review = JSON.parse(
    await readFile(
      join(bench, "fixtures", "service-create-loadbalancer.at-validating.json"),
      "utf8",
    ),
  );
  const dash = Number(pod.lastIndexOf("-"));
  const object = review.request.object;
  review.request.uid = uid;
  review.request.name = pod;
  object.metadata.name = pod;
  object.metadata.labels = {
    "stsguard.io/statefulset": pod.slice(0, dash),
    "stsguard.io/ordinal": pod.slice(dash + 1),
  };
  object.metadata.annotations = { ...object.metadata.annotations, ...annotations };
  object.spec.selector = { "statefulset.kubernetes.io/pod-name": pod };
  object.spec.externalTrafficPolicy = "Local";
  return { name: pod, path: "/validate", body: JSON.stringify(review), uid };
}

/** A review just under the 3 MiB body cap: 600 annotations of ~5 KB, as a large object has. */
async function largeServiceCreate(bench, index) {
  const annotations = {};
  for (let i = 0; i < 600; i += 1) {
    annotations[`example.com/note-${i}`] = `${i}:`.padEnd(5_000, "abcdefghij");
  }
  return serviceCreate(bench, "web-0", `large-${index}`, annotations);
}

async function measureLiveReadCost({
  bench,
  certs,
  stsguard,
  baselinePort,
  apiServer,
  count,
  warmup,
}) {
  const cases = [
    { name: "StatefulSet exists", pod: "web-0" },
    { name: "StatefulSet not found (warning only)", pod: "later-0" },
  ];
  // The two cases alternate request by request, so noise on the machine hits both alike. The
  // servers take turns going first on every other request, so the cases cycle in fours
  // (a, b, b, a): each case goes first to each server equally often.
  const [first, second] = await Promise.all(
    cases.map((c) => serviceCreate(bench, c.pod, `${c.pod}-uid`)),
  );
  const requests = [first, second, second, first];
  const caseOf = (i) => (i % 4 === 0 || i % 4 === 3 ? 0 : 1);
  const ports = [baselinePort, stsguard.port];
  // Warm both servers and the connections before timing, long enough for V8 to have optimised
  // stsguard's handler, engine and logger (a webhook runs for days): with 400 requests the timed
  // run still caught stsguard on its way up, 1.46 against 1.25 once warm; the bare baseline is a
  // dozen lines and warm after a few.
  await measureSequentialLatency({ ports, ca: certs.caPem, requests, count: warmup });
  const readsBefore = await liveReadsTotal(stsguard.metricsPort);
  const getsBefore = (await apiServerRequests(apiServer)).gets;
  const samples = await measureSequentialLatency({
    ports,
    ca: certs.caPem,
    requests,
    count: 2 * count,
  });
  const liveReads = (await liveReadsTotal(stsguard.metricsPort)) - readsBefore;
  const gets = (await apiServerRequests(apiServer)).gets - getsBefore;
  const results = cases.map((c, index) => {
    const ofCase = (all) => all.filter((_, i) => caseOf(i) === index);
    const [baseline, measured] = samples.map(ofCase);
    const p50 = { baseline: percentile(baseline, 50), stsguard: percentile(measured, 50) };
    const p99 = { baseline: percentile(baseline, 99), stsguard: percentile(measured, 99) };
    // The ratio is the median of the p50 ratios of consecutive blocks, as throughput takes the
    // median of its rounds: this VM has slowed spells of a second or two that slow one server
    // more than the other, and a spell over a block or two then does not decide the figure.
    const measuredBlocks = blocksOf(measured, LATENCY_BLOCKS);
    const blockRatios = blocksOf(baseline, LATENCY_BLOCKS).map((block, b) =>
      round(percentile(measuredBlocks[b], 50) / percentile(block, 50), 2),
    );
    return {
      case: c.name,
      requests: count,
      baselineP50Ms: round(p50.baseline, 3),
      stsguardP50Ms: round(p50.stsguard, 3),
      baselineP99Ms: round(p99.baseline, 3),
      stsguardP99Ms: round(p99.stsguard, 3),
      ratioP50: median(blockRatios),
      blockRatios,
      // Over all requests at once, as the figure was taken before the blocks.
      overallRatioP50: round(p50.stsguard / p50.baseline, 2),
    };
  });
  // And a denial still costs its live read: ordinal 5 of the 2-replica demo/web.
  const readsBeforeDenial = await liveReadsTotal(stsguard.metricsPort);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const denial = await postReview(
    agent,
    stsguard.port,
    certs.caPem,
    await serviceCreate(bench, "web-5", "deny"),
  );
  agent.destroy();
  return {
    readDelayMs: apiServer.readDelayMs,
    cases: results,
    // Over both cases: every one is at most a warning, so none may read live.
    liveReads,
    apiServerGets: gets,
    denial: {
      allowed: denial.review?.response?.allowed,
      liveReads: (await liveReadsTotal(stsguard.metricsPort)) - readsBeforeDenial,
    },
  };
}

/** Blocks of consecutive Service CREATEs per case whose p50 ratios the result is the median of. */
const LATENCY_BLOCKS = 5;

/** `samples` cut into `count` consecutive blocks of (nearly) equal length, in order. */
function blocksOf(samples, count) {
  const size = Math.ceil(samples.length / count);
  return Array.from({ length: count }, (_, b) => samples.slice(b * size, (b + 1) * size));
}

/** The answer, or `{ status: "error ..." }` when the request failed (reset, refused). */
async function postOrDescribe(agent, port, ca, r) {
  try {
    return await postReview(agent, port, ca, r);
  } catch (error) {
    return { status: `error ${String(error)}` };
  }
}

async function measureLargeBodies({ bench, certs, stsguard, concurrency, rounds }) {
  const requests = await Promise.all(
    Array.from({ length: concurrency }, (_, i) => largeServiceCreate(bench, i)),
  );
  const bodyBytes = Buffer.byteLength(requests[0].body);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = {};
  let sampledPeak = 0;
  const sampling = { on: true };
  const sampler = (async () => {
    while (sampling.on) {
      const { rssBytes } = await readProcStatus(stsguard.child.pid);
      sampledPeak = Math.max(sampledPeak, rssBytes);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const started = process.hrtime.bigint();
  try {
    for (let round = 0; round < rounds; round += 1) {
      const answers = await Promise.all(
        requests.map((r) => postOrDescribe(agent, stsguard.port, certs.caPem, r)),
      );
      for (const a of answers) statuses[a.status] = Number(statuses[a.status] ?? 0) + 1;
    }
  } finally {
    sampling.on = false;
    await sampler;
    agent.destroy();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const status = await readProcStatus(stsguard.child.pid);
  return {
    concurrency,
    rounds,
    bodyBytes,
    seconds: round(seconds, 2),
    statuses,
    budget: await bodyBudgetCounters(stsguard.metricsPort),
    sampledPeakRssBytes: sampledPeak,
    // VmHWM: the kernel's own high-water mark since the process started.
    peakRssBytes: Math.max(status.peakRssBytes, sampledPeak),
    rssAfterBytes: status.rssBytes,
  };
}

/**
 * The readiness baseline: a bare Node process that lists the same two collections in pages of
 * 500 (both at once, as stsguard does) with fetch and JSON.parse, keeps nothing and exits.
 * Start to exit, and its peak RSS: the least any client of this API server pays.
 */
async function measureBareList(bench, apiPort) {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [join(bench, "list-baseline.mjs"), String(apiPort)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.on("data", (chunk) => {
    stdout += String(chunk);
  });
  const [code] = await once(child, "exit");
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`bench/list-baseline.mjs exited ${code}`);
  return { seconds, ...JSON.parse(stdout) };
}

export async function benchmarkCluster({ root, bench, workDir, certs, quick, startBaseline, log }) {
  const readDelayMs = 3;
  const chartLimitBytes = await readChartMemoryLimit(root);
  const nodeOptions = await readWebhookNodeOptions(root);
  const { defaultBodyBudgetBytes } = await import(join(root, "dist/memory/body-budget.js"));
  const { DEFAULT_MAX_BODY_BYTES } = await import(join(root, "dist/server/admission-handler.js"));
  // What a pod with the chart's limit derives from its cgroup.
  const bodyBudgetBytes = defaultBodyBudgetBytes(chartLimitBytes, DEFAULT_MAX_BODY_BYTES);

  log(`cluster: starting the API server with ${STATEFULSET_COUNT} StatefulSets and Services...`);
  const apiServer = await startFakeApiServer(bench, readDelayMs);
  apiServer.readDelayMs = readDelayMs;
  const kubeconfig = join(workDir, "kubeconfig");
  await writeKubeconfig(kubeconfig, apiServer.port);
  let stsguard;
  let baseline;
  try {
    // The API server's first lists run on cold JIT; one list it answers before anything is timed
    // keeps that from landing on whichever side goes first.
    await measureBareList(bench, apiServer.port);
    // Start-up is one sample per process: alternate stsguard and the bare list, and take medians.
    const startRounds = quick ? 1 : 3;
    const starts = [];
    const bareLists = [];
    let listsPerSync = 0;
    for (let round = 1; round <= startRounds; round += 1) {
      log(`cluster: start ${round}/${startRounds}: stsguard serve --kubeconfig until /readyz...`);
      const before = await apiServerRequests(apiServer);
      stsguard = await startStsguard({
        root,
        kubeconfig,
        certs,
        nodeOptions,
        bodyBudgetBytes,
        logFile: join(workDir, "stsguard-cluster.log"),
      });
      listsPerSync = (await apiServerRequests(apiServer)).lists - before.lists;
      starts.push(stsguard);
      log(`cluster: start ${round}/${startRounds}: the same lists from a bare Node process...`);
      bareLists.push(await measureBareList(bench, apiServer.port));
      if (round < startRounds) await stopStsguard(stsguard);
    }
    const readySeconds = median(starts.map((s) => s.readySeconds));
    const bareList = {
      seconds: median(bareLists.map((b) => b.seconds)),
      peakRssBytes: Math.max(...bareLists.map((b) => b.peakRssBytes)),
      items: bareLists[0].items,
    };
    baseline = await startBaseline();

    log(`cluster: Service CREATE latency with ${readDelayMs} ms API reads, vs the baseline...`);
    const liveReadCost = await measureLiveReadCost({
      bench,
      certs,
      stsguard,
      baselinePort: baseline.port,
      apiServer,
      count: quick ? 300 : 3_000,
      warmup: quick ? 400 : 4_000,
    });

    log("cluster: 32 concurrent ~3 MB reviews...");
    const memory = await measureLargeBodies({
      bench,
      certs,
      stsguard,
      concurrency: 32,
      rounds: quick ? 2 : 6,
    });
    return {
      statefulSets: STATEFULSET_COUNT + 1,
      perPodServices: STATEFULSET_COUNT + 2,
      nodeOptions,
      chartMemoryLimitMiB: round(chartLimitBytes / MiB, 1),
      bodyBudgetMiB: round(bodyBudgetBytes / MiB, 2),
      listRequestsAtSync: listsPerSync,
      readySeconds: round(readySeconds, 2),
      readySamples: starts.map((s) => round(s.readySeconds, 2)),
      // The largest of the starts: the target is a bound, not a typical value.
      rssAtReadyMiB: round(Math.max(...starts.map((s) => s.rssAtReadyBytes)) / MiB, 1),
      rssAtReadySamples: starts.map((s) => round(s.rssAtReadyBytes / MiB, 1)),
      bareList: {
        seconds: round(bareList.seconds, 2),
        samples: bareLists.map((b) => round(b.seconds, 2)),
        peakRssMiB: round(bareList.peakRssBytes / MiB, 1),
        items: bareList.items,
      },
      readyRatio: round(readySeconds / bareList.seconds, 2),
      liveReadCost,
      largeBodies: {
        ...memory,
        bodyMiB: round(memory.bodyBytes / MiB, 2),
        peakRssMiB: round(memory.peakRssBytes / MiB, 1),
        sampledPeakRssMiB: round(memory.sampledPeakRssBytes / MiB, 1),
        rssAfterMiB: round(memory.rssAfterBytes / MiB, 1),
      },
    };
  } finally {
    if (stsguard) await stopStsguard(stsguard);
    if (baseline) await baseline.stop();
    apiServer.child.kill("SIGTERM");
  }
}

async function stopStsguard(stsguard) {
  if (stsguard.child.exitCode !== null) return;
  stsguard.child.kill("SIGTERM");
  const timer = setTimeout(() => stsguard.child.kill("SIGKILL"), 15_000);
  await stsguard.exited;
  clearTimeout(timer);
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
