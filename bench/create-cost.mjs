// What a Service CREATE costs through the real API server with stsguard's webhooks registered,
// against the same CREATE with a bare allow-all webhook registered the same way: the chart's
// Mutating- and ValidatingWebhookConfiguration for each, each narrowed to its own namespace.
// A third namespace, no webhook at all, shows what a webhook call costs in the first place.
import { setTimeout as sleep } from "node:timers/promises";
import { median, percentile } from "./admission.mjs";
import { webhookConfigurations } from "./chart.mjs";
import {
  collectionPath,
  createObjects,
  deleteObjects,
  namespaceObject,
  perPodServiceObject,
  statefulSetObject,
} from "./kube.mjs";

/** The namespace label that says which webhook (if any) a namespace's writes go through. */
export const SIDE_LABEL = "stsguard-bench/webhook";
export const SIDES = [
  { name: "stsguard", namespace: "bench-stsguard" },
  { name: "baseline", namespace: "bench-bare" },
  { name: "no webhook", namespace: "bench-none" },
];
/** The StatefulSet exists (web, 2 replicas), or not yet (Helm creates Services first). */
export const CASES = [
  { name: "StatefulSet exists", statefulSet: "web" },
  { name: "StatefulSet not found (warning only)", statefulSet: "later" },
];
/** Consecutive blocks of CREATEs per case whose p50 ratios the result is the median of. */
const BLOCKS = 5;

/** The namespaces and their StatefulSet `web`, made before any webhook is registered. */
export function createCostObjects() {
  return SIDES.flatMap((side) => [
    namespaceObject(side.namespace, { [SIDE_LABEL]: side.name.replace(" ", "-") }),
    statefulSetObject(side.namespace, "web", 2),
  ]);
}

/** Registers the chart's webhook configurations for stsguard and for the bare webhook. */
export async function registerWebhooks({ api, chartObjects, stsguardPort, baselinePort, caPem }) {
  const configurations = [
    ...webhookConfigurations(chartObjects, {
      suffix: "stsguard",
      baseUrl: `https://127.0.0.1:${stsguardPort}`,
      caPem,
      label: SIDE_LABEL,
      value: "stsguard",
    }),
    ...webhookConfigurations(chartObjects, {
      suffix: "baseline",
      baseUrl: `https://127.0.0.1:${baselinePort}`,
      caPem,
      label: SIDE_LABEL,
      value: "baseline",
    }),
  ];
  await createObjects(api, configurations);
  return configurations;
}

/** Per-pod Service `<statefulSet>-<ordinal>` without the labels stsguard adds. */
function unlabelled(namespace, statefulSet, ordinal) {
  const service = perPodServiceObject(namespace, statefulSet, ordinal);
  delete service.metadata.labels;
  return service;
}

/**
 * Waits until the API server calls both: a dry-run CREATE in stsguard's namespace comes back
 * labelled (the mutating webhook), one beyond the replicas is denied (the validating webhook),
 * and the bare webhook counts both calls of a dry-run CREATE in its namespace.
 */
export async function waitForWebhooks({ api, baselineReviews }) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const dryRun = (namespace, object) =>
      api.call("POST", `${collectionPath.services(namespace)}?dryRun=All`, object);
    const mutated = await dryRun("bench-stsguard", unlabelled("bench-stsguard", "web", 0));
    const denied = await dryRun("bench-stsguard", perPodServiceObject("bench-stsguard", "web", 5));
    const before = await baselineReviews();
    await dryRun("bench-bare", unlabelled("bench-bare", "web", 0));
    const calls = (await baselineReviews()) - before;
    if (
      mutated.status === 201 &&
      mutated.body?.metadata?.labels?.["stsguard.io/statefulset"] === "web" &&
      denied.status === 403 &&
      calls >= 2
    ) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the API server does not call the webhooks: mutated ${mutated.status}, denied ` +
          `${denied.status}, bare webhook calls ${calls}`,
      );
    }
    await sleep(250);
  }
}

/**
 * Timed Service CREATEs, each deleted again untimed, interleaved: every round creates each case
 * in each namespace, the order of cases and of namespaces alternating from round to round.
 * `api` must hold one connection, so every CREATE pays the same connection costs.
 */
export async function measureCreateCost({ api, count, warmup, log }) {
  const rounds = Number(warmup) + Number(count);
  const samples = new Map();
  for (const side of SIDES) for (const c of CASES) samples.set(`${side.name}|${c.name}`, []);
  const createOnce = async (side, c) => {
    const service = perPodServiceObject(side.namespace, c.statefulSet, 0);
    const started = process.hrtime.bigint();
    const answer = await api.call("POST", collectionPath.services(side.namespace), service);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (answer.status !== 201) {
      throw new Error(
        `Service CREATE ${side.namespace}/${service.metadata.name}: ${answer.status} ` +
          `${answer.body?.message ?? ""}`,
      );
    }
    await deleteObjects(api, [service]);
    return ms;
  };
  for (let round = 0; round < rounds; round += 1) {
    if (round === warmup) log(`cluster: Service CREATE, ${count} timed rounds...`);
    const cases = round % 2 === 0 ? CASES : [...CASES].reverse();
    for (const c of cases) {
      const sides = (round + (c === CASES[0] ? 0 : 1)) % 2 === 0 ? SIDES : [...SIDES].reverse();
      for (const side of sides) {
        const ms = await createOnce(side, c);
        if (round >= warmup) samples.get(`${side.name}|${c.name}`).push(ms);
      }
    }
  }
  return CASES.map((c) => {
    const of = (side) => samples.get(`${side}|${c.name}`);
    const [stsguard, baseline, none] = ["stsguard", "baseline", "no webhook"].map(of);
    const stsguardBlocks = blocksOf(stsguard, BLOCKS);
    // The median of the blocks' p50 ratios, as throughput takes the median of its rounds: a
    // slowed spell of the machine over a block or two does not decide the figure.
    const blockRatios = blocksOf(baseline, BLOCKS).map((block, b) =>
      round(percentile(stsguardBlocks[b], 50) / percentile(block, 50), 3),
    );
    const p50 = (values) => percentile(values, 50);
    return {
      case: c.name,
      requests: stsguard.length,
      stsguardP50Ms: round(p50(stsguard), 3),
      baselineP50Ms: round(p50(baseline), 3),
      noWebhookP50Ms: round(p50(none), 3),
      stsguardP99Ms: round(percentile(stsguard, 99), 3),
      baselineP99Ms: round(percentile(baseline, 99), 3),
      ratioP50: round(median(blockRatios), 2),
      blockRatios,
      overallRatioP50: round(p50(stsguard) / p50(baseline), 3),
      // What the webhooks add to a CREATE without any, at p50: for reference, no target.
      addedMs: {
        stsguard: round(p50(stsguard) - p50(none), 3),
        baseline: round(p50(baseline) - p50(none), 3),
      },
    };
  });
}

/** `samples` cut into `count` consecutive blocks of (nearly) equal length, in order. */
function blocksOf(samples, count) {
  const size = Math.ceil(samples.length / count);
  return Array.from({ length: count }, (_, b) => samples.slice(b * size, (b + 1) * size));
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
