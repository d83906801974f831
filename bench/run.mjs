// `npm run bench`: the performance targets of the admission hot path and of `stsguard check`,
// measured against bare baselines in the same run and reported as ratios (see
// docs/benchmarks.md). Runs on the built dist/.
//
//   node bench/run.mjs [--only server|cli|cluster] [--strict] [--quick]
//
// --quick runs one short round of each measurement: a smoke test of the benchmark itself, whose
// figures are too noisy to judge a target by.
//
// Prints a report and writes bench/.data/results.json. Exits 0 when every target is met or only
// reported as missed; with --strict a missed target exits 1. A benchmark that cannot run (a
// server that does not start, a wrong answer) always exits 1.
import { fork, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  measureSequentialLatency,
  measureThroughput,
  median,
  percentile,
  postReview,
  writeServerManifests,
} from "./admission.mjs";
import { benchmarkCluster, readImageNodeOptions } from "./cluster.mjs";
import { measureAtRate, renderLatencyChart } from "./load-chart.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const BENCH = join(ROOT, "bench");
const DATA = join(BENCH, ".data");
/** The chart docs/benchmarks.md shows; every full run rewrites it. */
const LATENCY_CHART = join(ROOT, "docs", "benchmarks-latency.svg");
// Offered loads of the latency chart, as fractions of the baseline's measured throughput.
const LOAD_FRACTIONS = [0.1, 0.25, 0.5, 0.75, 0.9];

// Short alternating throughput rounds and request-by-request interleaved latency samples: on a
// small shared machine, noise comes in bursts, and this spreads each burst over both servers.
const FULL_SERVER_SETTINGS = {
  connections: 10,
  warmupSeconds: 1,
  durationSeconds: 3,
  throughputRounds: 5,
  latencyWarmup: 500,
  latencyCount: 6_000,
  loadSeconds: 3,
};
const QUICK_SERVER_SETTINGS = {
  ...FULL_SERVER_SETTINGS,
  durationSeconds: 1,
  throughputRounds: 1,
  latencyWarmup: 100,
  latencyCount: 500,
  loadSeconds: 1,
};
const FULL_CLI_RUNS = 5;
const TARGETS = {
  throughput: { label: "throughput stsguard/baseline", min: 0.5 },
  p50: { label: "latency p50 stsguard/baseline", max: 1.5 },
  p99: { label: "latency p99 stsguard/baseline", max: 2.0 },
  check: { label: "check time / yaml-only parse time", max: 1.5 },
  checkRss: { label: "check peak RSS / yaml-only parse peak RSS", max: 1.5 },
  serveManifestsRss: {
    label: "serve --manifests peak RSS until ready / yaml-only parse peak RSS",
    max: 1.5,
  },
  readyRss: { label: "cluster: RSS at ready (MiB), 10k StatefulSets + 10k Services", max: 128 },
  readySeconds: { label: "cluster: start until /readyz 200 (s)", max: 2 },
  readyRatio: { label: "cluster: start until ready / bare Node listing the same pages", max: 2 },
  largeBodies: { label: "cluster: peak RSS under 32 x 3 MB reviews / chart limit", max: 1 },
  largeBodiesFailed: { label: "cluster: 32 x 3 MB reviews answered 5xx or failed", max: 0 },
  costExists: {
    label: "cluster: Service CREATE p50, StatefulSet exists, stsguard/baseline",
    max: 1.25,
  },
  costMissing: {
    label: "cluster: Service CREATE p50, StatefulSet missing, stsguard/baseline",
    max: 1.25,
  },
  liveReadsWarning: { label: "cluster: live reads for warning-only Service CREATEs", max: 0 },
};

/**
 * Recorded kube-apiserver 1.26 requests (copies of test/fixtures/admission-reviews):
 * a per-pod LoadBalancer Service to /mutate and /validate, a Service that is not per-pod, and a
 * StatefulSet, cycled in this order.
 */
const REQUEST_FIXTURES = [
  { file: "service-create-loadbalancer.at-mutating.json", path: "/mutate" },
  { file: "service-create-loadbalancer.at-validating.json", path: "/validate" },
  { file: "service-create-headless.at-validating.json", path: "/validate" },
  { file: "statefulset-create.at-validating.json", path: "/validate" },
];

const MiB = 1024 * 1024;

async function loadRequests() {
  return Promise.all(
    REQUEST_FIXTURES.map(async ({ file, path }) => {
      const review = JSON.parse(await readFile(join(BENCH, "fixtures", file), "utf8"));
      return { name: file, path, body: JSON.stringify(review), uid: review.request.uid };
    }),
  );
}

async function writeCertificates(dir) {
  const { generateDevCertificates } = await import("../dist/certs/generate.js");
  const pem = await generateDevCertificates({
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validDays: 2,
  });
  await mkdir(dir, { recursive: true });
  const files = { ca: join(dir, "ca.crt"), cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
  await writeFile(files.ca, pem.caCert);
  await writeFile(files.cert, pem.cert);
  await writeFile(files.key, pem.key, { mode: 0o600 });
  return { ...files, caPem: pem.caCert };
}

function waitForMessage(child, type, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.spawnfile}: no "${type}" message after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message) => {
      if (message?.type === type) {
        cleanup();
        resolvePromise(message);
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`server child exited (${signal ?? code}) before "${type}"`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/** Forks a server script in its own process (own event loop), stdout going to `logFile`. */
async function startServerChild(name, script, args, logFile, env = {}) {
  const log = await open(logFile, "w");
  const child = fork(join(BENCH, script), args, {
    stdio: ["ignore", log.fd, "inherit", "ipc"],
    execArgv: ["--expose-gc"],
    env: { ...process.env, NODE_ENV: "production", ...env },
  });
  const started = process.hrtime.bigint();
  try {
    const { port } = await waitForMessage(child, "ready", 120_000);
    const startSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { name, child, port, log, logFile, startSeconds };
  } catch (error) {
    child.kill("SIGKILL");
    await log.close();
    throw error;
  }
}

async function readServerStats(server) {
  const stats = waitForMessage(server.child, "stats", 10_000);
  server.child.send("stats");
  return stats;
}

async function stopServerChild(server) {
  if (server.stopped) return;
  server.stopped = true;
  if (server.child.exitCode === null && server.child.signalCode === null) {
    const exited = once(server.child, "exit");
    server.child.send("stop");
    const timer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await server.log.close();
}

function decodePatch(response) {
  return response.patch ? JSON.parse(Buffer.from(response.patch, "base64").toString("utf8")) : [];
}

/**
 * Proves the stsguard server does the real work before it is timed: the StatefulSet lookup
 * finds demo/web among the 10,000 and the mutation produces a patch.
 */
async function checkStsguardAnswers(server, ca, requests) {
  const { Agent } = await import("node:https");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const answers = [];
  try {
    for (const r of requests) {
      const { status, review } = await postReview(agent, server.port, ca, r);
      const response = review?.response ?? {};
      if (status !== 200 || response.uid !== r.uid) {
        throw new Error(`stsguard ${r.path} ${r.name}: status ${status}, uid ${response.uid}`);
      }
      const text = JSON.stringify(response);
      if (text.includes("statefulset-not-found")) {
        throw new Error(`stsguard did not find demo/web among the cached StatefulSets: ${text}`);
      }
      const patch = decodePatch(response);
      answers.push({
        request: `${r.path} ${r.name}`,
        allowed: response.allowed,
        patchOperations: patch.length,
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

function checkThroughputRun(server, run) {
  if (run.non2xx > 0 || run.errors > 0) {
    throw new Error(`${server.name}: ${run.non2xx} non-2xx answers, ${run.errors} errors`);
  }
}

async function benchmarkServer(settings, workDir) {
  const certs = await writeCertificates(join(workDir, "certs"));
  const manifestsDir = join(workDir, "server-manifests");
  const statefulSets = await writeServerManifests(manifestsDir);
  const requests = await loadRequests();
  const stsguardLog = join(workDir, "stsguard.log");

  log(`admission: starting servers (stsguard loads ${statefulSets} StatefulSets)...`);
  const baseline = await startServerChild(
    "baseline",
    "baseline-server.mjs",
    [certs.cert, certs.key],
    join(workDir, "baseline.log"),
  );
  let stsguard;
  try {
    stsguard = await startServerChild(
      "stsguard",
      "stsguard-server.mjs",
      [certs.cert, certs.key, manifestsDir],
      stsguardLog,
    );
    const answers = await checkStsguardAnswers(stsguard, certs.caPem, requests);
    const servers = [baseline, stsguard];
    const ports = servers.map((server) => server.port);

    log("admission: warming up...");
    for (const server of servers) {
      const run = await measureThroughput({
        port: server.port,
        requests,
        connections: settings.connections,
        durationSeconds: settings.warmupSeconds,
      });
      checkThroughputRun(server, run);
    }
    await measureSequentialLatency({
      ports,
      ca: certs.caPem,
      requests,
      count: settings.latencyWarmup,
    });

    const throughput = { baseline: [], stsguard: [] };
    for (let round = 0; round < settings.throughputRounds; round += 1) {
      // Alternate which server goes first so drift (thermal, other load) hits both alike.
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        log(
          `admission: throughput round ${round + 1}/${settings.throughputRounds}, ${server.name}`,
        );
        const run = await measureThroughput({
          port: server.port,
          requests,
          connections: settings.connections,
          durationSeconds: settings.durationSeconds,
        });
        checkThroughputRun(server, run);
        throughput[server.name].push(run.requestsPerSecond);
      }
    }

    log(`admission: sequential latency, ${settings.latencyCount} requests to each server...`);
    const [baselineLatency, stsguardLatency] = await measureSequentialLatency({
      ports,
      ca: certs.caPem,
      requests,
      count: settings.latencyCount,
    });
    const latency = { baseline: baselineLatency, stsguard: stsguardLatency };

    // Latency against offered load: fractions of what the baseline sustained, alternating.
    const baselineRate = median(throughput.baseline);
    const byLoad = { baseline: [], stsguard: [] };
    for (const fraction of LOAD_FRACTIONS) {
      const rate = Math.max(50, Math.round((baselineRate * fraction) / 50) * 50);
      const order = byLoad.baseline.length % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        log(`admission: ${rate} req/s offered to ${server.name}`);
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

    const stats = {
      baseline: await readServerStats(baseline),
      stsguard: await readServerStats(stsguard),
    };
    const summarize = (name) => ({
      startSeconds: round(servers.find((s) => s.name === name).startSeconds, 2),
      requestsPerSecondRuns: throughput[name].map((v) => Math.round(v)),
      requestsPerSecond: Math.round(median(throughput[name])),
      latencySamples: latency[name].length,
      p50Ms: round(percentile(latency[name], 50), 3),
      p99Ms: round(percentile(latency[name], 99), 3),
      maxRssMiB: round(stats[name].maxRssBytes / MiB, 1),
      rssAfterLoadMiB: round(stats[name].rssBytes / MiB, 1),
      heapAfterGcMiB: round(stats[name].heapUsedAfterGcBytes / MiB, 1),
    });
    const result = {
      settings,
      statefulSetsInSource: statefulSets,
      requests: REQUEST_FIXTURES.map((r) => `${r.path} ${r.file}`),
      stsguardAnswers: answers,
      baseline: summarize("baseline"),
      stsguard: summarize("stsguard"),
      latencyByLoad: byLoad,
    };
    // Each round's ratio compares two runs made seconds apart; their median resists drift.
    const roundRatios = throughput.stsguard.map((v, i) => v / throughput.baseline[i]);
    result.ratios = {
      throughputRounds: roundRatios.map((r) => round(r, 2)),
      throughput: round(median(roundRatios), 2),
      p50: round(result.stsguard.p50Ms / result.baseline.p50Ms, 2),
      p99: round(result.stsguard.p99Ms / result.baseline.p99Ms, 2),
      maxRss: round(result.stsguard.maxRssMiB / result.baseline.maxRssMiB, 2),
    };
    await stopServerChild(stsguard);
    result.stsguardLog = await describeLog(stsguardLog);
    return result;
  } finally {
    await stopServerChild(baseline);
    if (stsguard) await stopServerChild(stsguard);
  }
}

/** How much the server logged: admission log lines are part of the measured cost. */
async function describeLog(file) {
  const text = await readFile(file, "utf8");
  const lines = text.split("\n").filter((line) => line.includes('"msg":"admission"'));
  return {
    admissionLines: lines.length,
    bytesPerAdmissionLine: Math.round(lines.reduce((n, l) => n + l.length + 1, 0) / lines.length),
  };
}

/**
 * Preloaded into each timed child (`--import`): at exit, writes the process's peak resident set
 * size in bytes (resourceUsage().maxRSS is in kilobytes) to BENCH_RSS_FILE. Measures a CLI run
 * without changing its code or its output.
 */
const REPORT_PEAK_RSS = `data:text/javascript,${encodeURIComponent(
  'import { writeFileSync } from "node:fs";' +
    'process.on("exit", () => writeFileSync(process.env.BENCH_RSS_FILE, ' +
    "String(process.resourceUsage().maxRSS * 1024)));",
)}`;

/**
 * Runs a Node script as a child, with NODE_OPTIONS `nodeOptions` when given; returns wall time,
 * peak RSS and stdout.
 */
async function runTimed(args, workDir, nodeOptions) {
  const rssFile = join(workDir, "peak-rss.txt");
  await rm(rssFile, { force: true });
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ["--import", REPORT_PEAK_RSS, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      BENCH_RSS_FILE: rssFile,
      NODE_ENV: "production",
      ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
    },
  });
  const stdout = [];
  const stderr = [];
  child.stdout.on("data", (chunk) => stdout.push(chunk));
  child.stderr.on("data", (chunk) => stderr.push(chunk));
  const [code, signal] = await once(child, "exit");
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const maxRssBytes = Number(await readFile(rssFile, "utf8"));
  await rm(rssFile, { force: true });
  return {
    code,
    signal,
    seconds,
    maxRssBytes,
    stdout: Buffer.concat(stdout).toString("utf8"),
    stderr: Buffer.concat(stderr).toString("utf8"),
  };
}

async function generateCliManifests(dir, workDir) {
  const run = await runTimed([join(BENCH, "generate-manifests.mjs"), dir], workDir);
  if (run.code !== 0) {
    throw new Error(`bench/generate-manifests.mjs failed (${run.code}): ${run.stderr}`);
  }
  const files = (await readdir(dir, { recursive: true })).filter((f) => /\.ya?ml$/.test(f));
  return files.length;
}

function checkCheckRun(run, expected) {
  // Exit 1 means "findings that fail the run", which generated manifests may well contain.
  if (run.code !== 0 && run.code !== 1) {
    throw new Error(
      `stsguard check exited ${run.code ?? run.signal}: ${run.stderr.slice(0, 2000)}`,
    );
  }
  const summary = JSON.parse(run.stdout).summary;
  if (summary.objects < expected.objects || summary.perPodServices < expected.perPodServices) {
    throw new Error(`stsguard check saw too few objects: ${JSON.stringify(summary)}`);
  }
  return summary;
}

/**
 * `check` against a bare `yaml` parse of the same files, as the image runs both: with its
 * NODE_OPTIONS (`docker run ... check` is how docs/deploy.md runs `check` in CI). Node's defaults
 * let V8 grow its young generation with the memory a process keeps (up to 64 MiB semi-spaces on
 * a large machine), which `check`, keeping every object, reaches and a parse that keeps
 * nothing does not; those figures are reported as well, for reference.
 */
async function benchmarkCli(runCount, workDir) {
  const dir = join(workDir, "cli-manifests");
  log("cli: generating manifests...");
  const files = await generateCliManifests(dir, workDir);
  const nodeOptions = await readImageNodeOptions(ROOT);
  const result = {
    runs: runCount,
    files,
    nodeOptions,
    ...(await compareCheckWithYaml(dir, runCount, workDir, nodeOptions)),
  };
  result.atNodeDefaults = await compareCheckWithYaml(dir, 2, workDir, "");
  result.serveManifests = await benchmarkServeManifests(runCount, workDir, nodeOptions);
  return result;
}

async function compareCheckWithYaml(dir, runCount, workDir, nodeOptions) {
  const cli = join(ROOT, "dist", "cli.js");
  const runs = { yaml: [], check: [] };
  let summary;
  let documents;
  const settings = nodeOptions === "" ? "Node's defaults" : `NODE_OPTIONS "${nodeOptions}"`;
  for (let round = 0; round < runCount; round += 1) {
    const order = round % 2 === 0 ? ["yaml", "check"] : ["check", "yaml"];
    for (const name of order) {
      log(`cli: round ${round + 1}/${runCount}, ${name}, ${settings}`);
      if (name === "yaml") {
        const run = await runTimed([join(BENCH, "parse-yaml.mjs"), dir], workDir, nodeOptions);
        if (run.code !== 0) throw new Error(`parse-yaml.mjs failed: ${run.stderr}`);
        documents = JSON.parse(run.stdout).documents;
        runs.yaml.push(run);
      } else {
        const run = await runTimed([cli, "check", "--output", "json", dir], workDir, nodeOptions);
        summary = checkCheckRun(run, { objects: 10_000, perPodServices: 5_000 });
        runs.check.push(run);
      }
    }
  }
  const summarize = (list) => ({
    secondsRuns: list.map((r) => round(r.seconds, 3)),
    seconds: round(median(list.map((r) => r.seconds)), 3),
    maxRssMiB: round(Math.max(...list.map((r) => r.maxRssBytes)) / MiB, 1),
  });
  const yaml = summarize(runs.yaml);
  const check = summarize(runs.check);
  // Runs alternate; each round's ratio compares two runs made seconds apart.
  const roundRatios = runs.check.map((run, i) => run.seconds / runs.yaml[i].seconds);
  return {
    documents,
    checkSummary: summary,
    yaml,
    check,
    ratios: {
      timeRounds: roundRatios.map((r) => round(r, 2)),
      time: round(median(roundRatios), 2),
      maxRss: round(check.maxRssMiB / yaml.maxRssMiB, 2),
    },
  };
}

/**
 * `serve --manifests` at start: the peak RSS of the server process until it is ready (it reads
 * every file before it listens) against a bare `yaml` parse of the same directory, alternating.
 */
async function benchmarkServeManifests(runCount, workDir, nodeOptions) {
  const dir = join(workDir, "serve-manifests");
  const statefulSets = await writeServerManifests(dir);
  const certs = await writeCertificates(join(workDir, "serve-manifests-certs"));
  const runs = { yaml: [], serve: [] };
  for (let round = 0; round < runCount; round += 1) {
    const order = round % 2 === 0 ? ["yaml", "serve"] : ["serve", "yaml"];
    for (const name of order) {
      log(`cli: round ${round + 1}/${runCount}, ${name} (serve --manifests input)`);
      if (name === "yaml") {
        const run = await runTimed([join(BENCH, "parse-yaml.mjs"), dir], workDir, nodeOptions);
        if (run.code !== 0) throw new Error(`parse-yaml.mjs failed: ${run.stderr}`);
        runs.yaml.push(run.maxRssBytes);
      } else {
        const server = await startServerChild(
          "stsguard",
          "stsguard-server.mjs",
          [certs.cert, certs.key, dir],
          join(workDir, "serve-manifests.log"),
          { NODE_OPTIONS: nodeOptions },
        );
        try {
          runs.serve.push((await readServerStats(server)).maxRssBytes);
        } finally {
          await stopServerChild(server);
        }
      }
    }
  }
  const yamlMiB = round(Math.max(...runs.yaml) / MiB, 1);
  const serveMiB = round(Math.max(...runs.serve) / MiB, 1);
  return {
    statefulSets,
    yaml: { maxRssMiB: yamlMiB },
    serve: { maxRssMiB: serveMiB },
    maxRssRatio: round(serveMiB / yamlMiB, 2),
  };
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function log(message) {
  process.stderr.write(`${message}\n`);
}

function evaluateTargets(server, cli, cluster) {
  const rows = [];
  const add = (target, value) => {
    const pass = target.min !== undefined ? value >= target.min : value <= target.max;
    const bound = target.min !== undefined ? `>= ${target.min}` : `<= ${target.max}`;
    rows.push({ target: target.label, value, bound, pass });
  };
  if (server) {
    add(TARGETS.throughput, server.ratios.throughput);
    add(TARGETS.p50, server.ratios.p50);
    add(TARGETS.p99, server.ratios.p99);
  }
  if (cli) {
    add(TARGETS.check, cli.ratios.time);
    add(TARGETS.checkRss, cli.ratios.maxRss);
    add(TARGETS.serveManifestsRss, cli.serveManifests.maxRssRatio);
  }
  if (cluster) {
    const [exists, missing] = cluster.liveReadCost.cases;
    const large = cluster.largeBodies;
    const failed = Object.entries(large.statuses)
      .filter(([status]) => !/^(200|429)$/.test(status))
      .reduce((n, [, count]) => n + Number(count), 0);
    add(TARGETS.readyRss, cluster.rssAtReadyMiB);
    add(TARGETS.readySeconds, cluster.readySeconds);
    add(TARGETS.readyRatio, cluster.readyRatio);
    add(TARGETS.largeBodies, round(large.peakRssMiB / cluster.chartMemoryLimitMiB, 2));
    add(TARGETS.largeBodiesFailed, failed);
    add(TARGETS.costExists, exists.ratioP50);
    add(TARGETS.costMissing, missing.ratioP50);
    add(TARGETS.liveReadsWarning, cluster.liveReadCost.liveReads);
  }
  return rows;
}

function formatTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join("  ");
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join("\n");
}

function formatReport(environment, server, cli, cluster, targets) {
  const out = [
    `stsguard benchmark: Node ${environment.node}, ${environment.cpus} x ${environment.cpuModel}`,
    `load average (1, 5, 15 min) before ${environment.loadAverageBefore.join(", ")}, after ${environment.loadAverageAfter.join(", ")}`,
  ];
  if (environment.loadAverageBefore[0] > environment.cpus) {
    out.push("  note: other processes were busy; rerun on an idle machine before judging a target");
  }
  if (environment.quick) out.push("  note: --quick: one short run of each, a smoke test only");
  if (server) {
    const { baseline: b, stsguard: s, ratios: r } = server;
    out.push(
      "",
      `Admission over HTTPS keep-alive on loopback, ${server.statefulSetsInSource} StatefulSets in stsguard's source,`,
      `${server.requests.length} recorded requests cycled; each server in its own process. Throughput: ${server.settings.throughputRounds} alternating`,
      `${server.settings.durationSeconds} s runs, ratio = median of the per-round ratios. Latency: requests to the two servers interleaved.`,
      formatTable(
        ["", "baseline", "stsguard", "ratio"],
        [
          [
            `throughput, ${server.settings.connections} connections (req/s)`,
            b.requestsPerSecond,
            s.requestsPerSecond,
            r.throughput,
          ],
          [`sequential latency p50 (ms), ${s.latencySamples} each`, b.p50Ms, s.p50Ms, r.p50],
          ["sequential latency p99 (ms)", b.p99Ms, s.p99Ms, r.p99],
          ["peak RSS (MiB)", b.maxRssMiB, s.maxRssMiB, r.maxRss],
          ["RSS after the load (MiB)", b.rssAfterLoadMiB, s.rssAfterLoadMiB, ""],
          ["JS heap in use after GC (MiB)", b.heapAfterGcMiB, s.heapAfterGcMiB, ""],
          ["start until listening (s)", b.startSeconds, s.startSeconds, ""],
        ],
      ),
      `  throughput runs (req/s): baseline ${b.requestsPerSecondRuns.join(", ")}; stsguard ${s.requestsPerSecondRuns.join(", ")}`,
      `  per-round throughput ratios: ${r.throughputRounds.join(", ")}`,
      `  stsguard logged ${server.stsguardLog.admissionLines} admission lines of ~${server.stsguardLog.bytesPerAdmissionLine} bytes (info level, to a file)`,
    );
  }
  if (cli) {
    const { yaml: y, check: c, ratios: r } = cli;
    out.push(
      "",
      `CLI: ${cli.files} files, ${cli.documents} YAML documents (${cli.checkSummary.objects} objects, ${cli.checkSummary.perPodServices} per-pod Services);`,
      `${cli.runs} alternating runs, process start included; ratio = median of the per-round ratios;`,
      `both sides with the image's NODE_OPTIONS "${cli.nodeOptions}" (as \`docker run ... check\` runs).`,
      formatTable(
        ["", "yaml parse only", "stsguard check", "ratio"],
        [
          ["wall time (s)", y.seconds, c.seconds, r.time],
          ["peak RSS (MiB)", y.maxRssMiB, c.maxRssMiB, r.maxRss],
        ],
      ),
      `  runs (s): yaml ${y.secondsRuns.join(", ")}; check ${c.secondsRuns.join(", ")}; ratios ${r.timeRounds.join(", ")}`,
      `  at Node's defaults (no NODE_OPTIONS, ${cli.atNodeDefaults.yaml.secondsRuns.length} runs each; for reference, no target):`,
      `    wall time ${cli.atNodeDefaults.yaml.seconds} s / ${cli.atNodeDefaults.check.seconds} s (${cli.atNodeDefaults.ratios.time}),` +
        ` peak RSS ${cli.atNodeDefaults.yaml.maxRssMiB} / ${cli.atNodeDefaults.check.maxRssMiB} MiB (${cli.atNodeDefaults.ratios.maxRss})`,
      `serve --manifests with ${cli.serveManifests.statefulSets} StatefulSets, peak RSS until ready:`,
      formatTable(
        ["", "yaml parse only", "stsguard serve", "ratio"],
        [
          [
            "peak RSS (MiB)",
            cli.serveManifests.yaml.maxRssMiB,
            cli.serveManifests.serve.maxRssMiB,
            cli.serveManifests.maxRssRatio,
          ],
        ],
      ),
    );
  }
  if (cluster) {
    const c = cluster;
    const l = c.largeBodies;
    out.push(
      "",
      `Cluster: stsguard serve --kubeconfig (built CLI, the chart's NODE_OPTIONS "${c.nodeOptions}") against a local list/watch API server`,
      `holding ${c.statefulSets} StatefulSets and ${c.perPodServices} per-pod Services (${c.listRequestsAtSync} list pages at sync).`,
      `  ready after ${c.readySeconds} s (median of ${c.readySamples.join(", ")}), RSS at ready ${c.rssAtReadyMiB} MiB (largest of ${c.rssAtReadySamples.join(", ")});`,
      `  a bare Node process that only lists the same pages: ${c.bareList.seconds} s (median of ${c.bareList.samples.join(", ")}), peak RSS ${c.bareList.peakRssMiB} MiB (ready ratio ${c.readyRatio})`,
      `  ${l.concurrency} concurrent ${l.bodyMiB} MB reviews x ${l.rounds} rounds (body budget ${c.bodyBudgetMiB} MiB, from the chart's ${c.chartMemoryLimitMiB} MiB limit):`,
      `    answers ${JSON.stringify(l.statuses)}, ${l.budget.waits} waited, ${l.budget.rejections} turned away; peak RSS ${l.peakRssMiB} MiB, after ${l.rssAfterMiB} MiB`,
      `  Service CREATE to /validate, ${c.liveReadCost.readDelayMs} ms per API read, interleaved with the baseline:`,
      formatTable(
        ["", "baseline p50", "stsguard p50", "ratio", "baseline p99", "stsguard p99"],
        c.liveReadCost.cases.map((k) => [
          k.case,
          k.baselineP50Ms,
          k.stsguardP50Ms,
          k.ratioP50,
          k.baselineP99Ms,
          k.stsguardP99Ms,
        ]),
      ),
      ...c.liveReadCost.cases.map(
        (k) =>
          `  ${k.case}: ratio = median of the p50 ratios of ${k.blockRatios.length} consecutive blocks, ${k.blockRatios.join(", ")}; over all requests at once ${k.overallRatioP50}`,
      ),
      `  live reads during these ${2 * c.liveReadCost.cases[0].requests} requests: ${c.liveReadCost.liveReads} (API server GETs: ${c.liveReadCost.apiServerGets})`,
      `  a denial (ordinal out of range) still read live: ${c.liveReadCost.denial.liveReads} live read(s), allowed ${c.liveReadCost.denial.allowed}`,
    );
  }
  if (server?.latencyByLoad) {
    out.push(
      "",
      "Latency (ms) against offered load (req/s), autocannon at a fixed rate:",
      formatTable(
        ["offered", "baseline p50", "baseline p99", "stsguard p50", "stsguard p99"],
        server.latencyByLoad.baseline.map((b, i) => {
          const s = server.latencyByLoad.stsguard[i];
          return [b.offered, b.p50Ms, b.p99Ms, s.p50Ms, s.p99Ms];
        }),
      ),
    );
  }
  out.push(
    "",
    "Targets",
    formatTable(
      ["", "measured", "target", "result"],
      targets.map((t) => [t.target, t.value, t.bound, t.pass ? "PASS" : "FAIL"]),
    ),
  );
  return out.join("\n");
}

const USAGE = "usage: node bench/run.mjs [--only server|cli|cluster] [--strict] [--quick]";

/** The options, or null after printing what is wrong (or the usage, for --help). */
function readOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        only: { type: "string" },
        strict: { type: "boolean", default: false },
        quick: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    process.stderr.write(`bench: ${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return null;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return null;
  }
  if (values.only !== undefined && !["server", "cli", "cluster"].includes(values.only)) {
    process.stderr.write(
      `bench: --only takes "server", "cli" or "cluster", not "${values.only}"\n`,
    );
    process.exitCode = 2;
    return null;
  }
  return values;
}

async function main() {
  const values = readOptions();
  if (values === null) return;
  await mkdir(DATA, { recursive: true });
  const environment = {
    quick: values.quick,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown CPU",
    date: new Date().toISOString(),
    // Other work on the machine skews even the ratios; the report shows the load it ran under.
    loadAverageBefore: loadavg().map((l) => round(l, 2)),
  };
  // Certificates, manifests and logs of this run only: a second run at the same time (or a
  // certificate reload it would trigger) cannot disturb this one.
  const workDir = await mkdtemp(join(tmpdir(), "stsguard-bench-"));
  let server = null;
  let cli = null;
  let cluster = null;
  const runs = (part) => values.only === undefined || values.only === part;
  try {
    // The cluster part first: its Service CREATE comparison resolves tens of microseconds, and
    // this shared VM runs slower for a while after the server part has kept both CPUs busy for
    // minutes (measured: 1.40 right after it, 1.22-1.27 on its own; docs/benchmarks.md).
    if (runs("cluster")) {
      const certs = await writeCertificates(join(workDir, "cluster-certs"));
      cluster = await benchmarkCluster({
        root: ROOT,
        bench: BENCH,
        workDir,
        certs,
        quick: values.quick,
        log,
        startBaseline: async () => {
          const baseline = await startServerChild(
            "baseline",
            "baseline-server.mjs",
            [certs.cert, certs.key],
            join(workDir, "cluster-baseline.log"),
          );
          return { port: baseline.port, stop: () => stopServerChild(baseline) };
        },
      });
    }
    if (runs("server")) {
      server = await benchmarkServer(
        values.quick ? QUICK_SERVER_SETTINGS : FULL_SERVER_SETTINGS,
        workDir,
      );
    }
    if (runs("cli")) {
      cli = await benchmarkCli(values.quick ? 1 : FULL_CLI_RUNS, workDir);
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  if (server && !values.quick) {
    const loads = server.latencyByLoad;
    await writeFile(
      LATENCY_CHART,
      renderLatencyChart({
        title: "Admission latency against offered load: stsguard and a bare webhook",
        subtitle: `${environment.cpus} x ${environment.cpuModel}, Node ${environment.node}, ${environment.date.slice(0, 10)}; load average ${environment.loadAverageBefore[0]}`,
        runs: loads,
      }),
    );
  }
  const targets = evaluateTargets(server, cli, cluster);
  environment.loadAverageAfter = loadavg().map((l) => round(l, 2));
  await writeFile(
    join(DATA, "results.json"),
    `${JSON.stringify({ environment, server, cli, cluster, targets }, null, 2)}\n`,
  );
  process.stdout.write(`${formatReport(environment, server, cli, cluster, targets)}\n`);
  process.stdout.write(`\nresults: ${join(DATA, "results.json")}\n`);
  const missed = targets.filter((t) => !t.pass);
  if (missed.length > 0 && values.strict) process.exitCode = 1;
}

await main();
