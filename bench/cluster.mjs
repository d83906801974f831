// The cluster part of `npm run bench`: stsguard as the chart runs it against a real Kubernetes
// 1.26 API server (shared/k8s's cluster.sh, the one `npm run test:e2e` starts) filled with
// 10,000 StatefulSets and 10,000 per-pod Services, each measured against a bare baseline in the
// same run:
//
// - start: spawn until /readyz answers 200, and RSS then, against a bare Node process listing
//   the same pages;
// - the admission hot path on stsguard's webhook port (bench/hot-path.mjs);
// - Service CREATEs through the API server, stsguard's webhooks registered against a bare
//   allow-all webhook registered the same way (bench/create-cost.mjs), and the live reads they
//   cost;
// - memory under 32 concurrent ~3 MB reviews, against the chart's memory limit.
//
// The filled cluster is kept for the whole part. Nothing here is a test server of ours: since
// the real API server serves lists, watches, live reads and webhook calls, bench/ has none.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { Agent } from "node:https";
import { join } from "node:path";
import { median, postReview } from "./admission.mjs";
import {
  CASES,
  createCostObjects,
  measureCreateCost,
  registerWebhooks,
  waitForWebhooks,
} from "./create-cost.mjs";
import { FULL_SETTINGS, QUICK_SETTINGS, loadRequests, measureHotPath } from "./hot-path.mjs";
import {
  collectionPath,
  createApiClient,
  createObjects,
  fillCluster,
  namespaceObject,
  perPodServiceObject,
  startKubeCluster,
  statefulSetObject,
} from "./kube.mjs";
import { askChild, startServerChild, stopServerChild } from "./servers.mjs";
import { prepareStsguard, readProcStatus, startStsguard } from "./stsguard.mjs";

const MiB = 1024 * 1024;

/** What the cluster holds: per-pod Services, one for each StatefulSet, over 100 namespaces. */
const FULL_FILL = { count: 10_000, namespaces: 100 };
const QUICK_FILL = { count: 1_000, namespaces: 10 };

/** The demo/web StatefulSet the recorded admission requests are about, and its two Services. */
function demoObjects() {
  return [
    namespaceObject("demo"),
    statefulSetObject("demo", "web", 2),
    perPodServiceObject("demo", "web", 0),
    perPodServiceObject("demo", "web", 1),
  ];
}

async function metricsText(metricsPort) {
  return globalThis.fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
}

async function liveReadsTotal(metricsPort) {
  return (await metricsText(metricsPort))
    .split("\n")
    .filter((line) => line.startsWith("stsguard_live_reads_total{"))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

async function counter(metricsPort, name) {
  const line = (await metricsText(metricsPort)).split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1] ?? 0);
}

/**
 * The readiness baseline: a bare Node process on the same Node that lists the same two
 * collections in pages of stsguard's size with the same token, keeps nothing and exits. Start to
 * exit, and its peak RSS: the least any client of this API server pays.
 */
async function measureBareList({ root, node, bench, api, caFile, token }) {
  const { CLUSTER_SOURCE_DEFAULTS } = await import(join(root, "dist/kube/cluster-source.js"));
  const started = process.hrtime.bigint();
  const pageSize = String(CLUSTER_SOURCE_DEFAULTS.pageSize);
  const child = spawn(node, [join(bench, "list-baseline.mjs"), api.url, caFile, pageSize], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { PATH: process.env.PATH, BENCH_TOKEN: token },
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

/** A per-pod Service CREATE review just under the 3 MiB body cap: 600 annotations of ~5 KB. */
async function largeServiceCreate(bench, index) {
  const { readFile } = await import("node:fs/promises");
  const review = JSON.parse(
    await readFile(
      join(bench, "fixtures", "service-create-loadbalancer.at-validating.json"),
      "utf8",
    ),
  );
  const object = review.request.object;
  review.request.uid = `large-${index}`;
  object.metadata.labels = { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": "0" };
  object.metadata.annotations = {};
  for (let i = 0; i < 600; i += 1) {
    object.metadata.annotations[`example.com/note-${i}`] = `${i}:`.padEnd(5_000, "abcdefghij");
  }
  object.spec.externalTrafficPolicy = "Local";
  return {
    name: "web-0",
    path: "/validate",
    body: JSON.stringify(review),
    uid: review.request.uid,
  };
}

/** The answer, or `{ status: "error ..." }` when the request failed (reset, refused). */
async function postOrDescribe(agent, port, ca, r) {
  try {
    return await postReview(agent, port, ca, r);
  } catch (error) {
    return { status: `error ${String(error)}` };
  }
}

async function measureLargeBodies({ bench, ca, stsguard, concurrency, rounds }) {
  const requests = await Promise.all(
    Array.from({ length: concurrency }, (_, i) => largeServiceCreate(bench, i)),
  );
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
  try {
    for (let round = 0; round < rounds; round += 1) {
      const answers = await Promise.all(
        requests.map((r) => postOrDescribe(agent, stsguard.port, ca, r)),
      );
      for (const a of answers) statuses[a.status] = Number(statuses[a.status] ?? 0) + 1;
    }
  } finally {
    sampling.on = false;
    await sampler;
    agent.destroy();
  }
  const status = await readProcStatus(stsguard.child.pid);
  return {
    concurrency,
    rounds,
    bodyMiB: round(Buffer.byteLength(requests[0].body) / MiB, 2),
    statuses,
    budget: {
      waits: await counter(stsguard.metricsPort, "stsguard_body_budget_waits_total"),
      rejections: await counter(stsguard.metricsPort, "stsguard_body_budget_rejections_total"),
    },
    // VmHWM: the kernel's own high-water mark since the process started.
    peakRssMiB: round(Math.max(status.peakRssBytes, sampledPeak) / MiB, 1),
    rssAfterMiB: round(status.rssBytes / MiB, 1),
  };
}

/** Runs the cluster part; `node` is the image's Node, `certs` the webhooks' certificates. */
export async function benchmarkCluster({
  root,
  bench,
  node,
  workDir,
  certs,
  quick,
  nodeOptions,
  log,
}) {
  const fill = quick ? QUICK_FILL : FULL_FILL;
  log("cluster: starting a Kubernetes 1.26 control plane (shared/k8s cluster.sh)...");
  const cluster = await startKubeCluster(root, join(workDir, "kube"));
  let stsguard;
  let baseline;
  const api = cluster.api;
  try {
    log(`cluster: creating ${fill.count} StatefulSets and ${fill.count} per-pod Services...`);
    const fillSeconds = await fillCluster(api, fill);
    await createObjects(api, [...demoObjects(), ...createCostObjects()]);
    const prepared = await prepareStsguard({ root, cluster, workDir, certs });
    const chartNodeOptions = prepared.env.NODE_OPTIONS ?? "";
    // Another point on the trade-off of memory against throughput, as `nodeOptions` would set.
    if (nodeOptions !== undefined) prepared.env.NODE_OPTIONS = nodeOptions;
    // The bare list reads with stsguard's own token: the same RBAC checks on every page.
    const { token } = prepared;

    // The API server's first lists run cold; one list before anything is timed keeps that from
    // landing on whichever side goes first.
    await measureBareList({ root, node, bench, api, caFile: cluster.caFile, token });
    // Start-up is one sample per process: alternate stsguard and the bare list, take medians.
    const startRounds = quick ? 1 : 3;
    const starts = [];
    const bareLists = [];
    for (let r = 1; r <= startRounds; r += 1) {
      log(`cluster: start ${r}/${startRounds}: stsguard serve until /readyz...`);
      stsguard = await startStsguard({
        root,
        node,
        prepared,
        logFile: join(workDir, "stsguard-cluster.log"),
      });
      starts.push({ readySeconds: stsguard.readySeconds, rssBytes: stsguard.rssAtReadyBytes });
      log(`cluster: start ${r}/${startRounds}: the same lists from a bare Node process...`);
      bareLists.push(
        await measureBareList({ root, node, bench, api, caFile: cluster.caFile, token }),
      );
      if (r < startRounds) await stsguard.kill();
    }
    const readySeconds = median(starts.map((s) => s.readySeconds));
    const bareListSeconds = median(bareLists.map((b) => b.seconds));

    baseline = await startServerChild({
      name: "baseline",
      node,
      script: join(bench, "baseline-server.mjs"),
      args: [certs.cert, certs.key],
      logFile: join(workDir, "baseline.log"),
    });

    const hotPath = await measureHotPath({
      servers: { baseline: baseline.port, stsguard: stsguard.port },
      ca: certs.caPem,
      requests: await loadRequests(bench),
      settings: quick ? QUICK_SETTINGS : FULL_SETTINGS,
      log,
    });

    log("cluster: registering the chart's webhooks for stsguard and for the bare webhook...");
    await registerWebhooks({
      api,
      chartObjects: prepared.objects,
      stsguardPort: stsguard.port,
      baselinePort: baseline.port,
      caPem: certs.caPem,
    });
    await waitForWebhooks({
      api,
      baselineReviews: async () => (await askChild(baseline, "counts")).reviews,
    });
    // One kept-alive connection for the timed CREATEs, as a controller or kubectl apply holds.
    const timedApi = createApiClient({ url: api.url, ca: api.ca, token: api.token, maxSockets: 1 });
    const readsBefore = await liveReadsTotal(stsguard.metricsPort);
    const createCost = await measureCreateCost({
      api: timedApi,
      count: quick ? 40 : 400,
      warmup: quick ? 10 : 60,
      log,
    });
    const liveReads = (await liveReadsTotal(stsguard.metricsPort)) - readsBefore;
    // A denial still reads live first: ordinal 5 of the 2-replica web.
    const readsBeforeDenial = await liveReadsTotal(stsguard.metricsPort);
    const denial = await timedApi.call(
      "POST",
      collectionPath.services("bench-stsguard"),
      perPodServiceObject("bench-stsguard", "web", 5),
    );
    const denialReads = (await liveReadsTotal(stsguard.metricsPort)) - readsBeforeDenial;
    timedApi.close();

    log("cluster: 32 concurrent ~3 MB reviews...");
    const largeBodies = await measureLargeBodies({
      bench,
      ca: certs.caPem,
      stsguard,
      concurrency: 32,
      rounds: quick ? 2 : 6,
    });
    const admissionLines = await countAdmissionLines(join(workDir, "stsguard-cluster.log"));
    return {
      apiServer: "kube-apiserver v1.26 (shared/k8s)",
      statefulSets: fill.count + 1 + 3,
      perPodServices: fill.count + 2,
      fillSeconds: round(fillSeconds, 1),
      chart: {
        args: prepared.args.join(" "),
        nodeOptions: prepared.env.NODE_OPTIONS ?? "",
        chartNodeOptions,
        logLevel: prepared.env.STSGUARD_LOG_LEVEL ?? "",
        memoryLimitMiB: round(prepared.memoryLimitBytes / MiB, 1),
        bodyBudgetMiB: round(Number(prepared.env.STSGUARD_BODY_BUDGET) / MiB, 2),
      },
      readySeconds: round(readySeconds, 2),
      readySamples: starts.map((s) => round(s.readySeconds, 2)),
      // The largest of the starts: the target is a bound, not a typical value.
      rssAtReadyMiB: round(Math.max(...starts.map((s) => s.rssBytes)) / MiB, 1),
      rssAtReadySamples: starts.map((s) => round(s.rssBytes / MiB, 1)),
      bareList: {
        seconds: round(bareListSeconds, 2),
        samples: bareLists.map((b) => round(b.seconds, 2)),
        peakRssMiB: round(Math.max(...bareLists.map((b) => b.peakRssBytes)) / MiB, 1),
        items: bareLists[0].items,
      },
      readyRatio: round(readySeconds / bareListSeconds, 2),
      hotPath,
      createCost: {
        cases: createCost,
        liveReads,
        denial: {
          status: denial.status,
          deniedBy: /ordinal-out-of-range/.test(denial.body?.message ?? "")
            ? "ordinal-out-of-range"
            : (denial.body?.message ?? ""),
          liveReads: denialReads,
        },
      },
      largeBodies,
      admissionLines,
    };
  } finally {
    if (stsguard) await stsguard.kill();
    if (baseline) await stopServerChild(baseline);
    api.close();
    await cluster.stop();
  }
}

async function countAdmissionLines(file) {
  const { readFile } = await import("node:fs/promises");
  const lines = (await readFile(file, "utf8")).split("\n");
  const admission = lines.filter((l) => l.includes('"msg":"admission"'));
  return {
    lines: admission.length,
    info: admission.filter((l) => l.startsWith('{"level":"info"')).length,
  };
}

export { CASES };

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
