// The CLI part of `npm run bench`: `check` against a bare `yaml` parse of the same files, and
// `serve --manifests` until ready against the same parse, each side as the image runs it (its
// Node and NODE_OPTIONS, as `docker run ... check` runs in CI).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { median, writeServerManifests } from "./admission.mjs";
import { askChild, startServerChild, stopServerChild, writeCertificates } from "./servers.mjs";

const MiB = 1024 * 1024;

/** NODE_OPTIONS as the image sets it (Dockerfile `ENV NODE_OPTIONS=...`), or "". */
export async function readImageNodeOptions(root) {
  const dockerfile = await readFile(join(root, "Dockerfile"), "utf8");
  return /^ENV NODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? "";
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
async function runTimed(ctx, args, nodeOptions) {
  const { workDir, node, root } = ctx;
  const rssFile = join(workDir, "peak-rss.txt");
  await rm(rssFile, { force: true });
  const started = process.hrtime.bigint();
  const child = spawn(node, ["--import", REPORT_PEAK_RSS, ...args], {
    cwd: root,
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

async function generateCliManifests(ctx, dir) {
  const run = await runTimed(ctx, [join(ctx.bench, "generate-manifests.mjs"), dir]);
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
export async function benchmarkCli(ctx, runCount) {
  const { log } = ctx;
  const dir = join(ctx.workDir, "cli-manifests");
  log("cli: generating manifests...");
  const files = await generateCliManifests(ctx, dir);
  const nodeOptions = await readImageNodeOptions(ctx.root);
  const result = {
    runs: runCount,
    files,
    nodeOptions,
    ...(await compareCheckWithYaml(ctx, dir, runCount, nodeOptions)),
  };
  result.atNodeDefaults = await compareCheckWithYaml(ctx, dir, 2, "");
  result.serveManifests = await benchmarkServeManifests(ctx, runCount, nodeOptions);
  return result;
}

async function compareCheckWithYaml(ctx, dir, runCount, nodeOptions) {
  const { log } = ctx;
  const cli = join(ctx.root, "dist", "cli.js");
  const runs = { yaml: [], check: [] };
  let summary;
  let documents;
  const settings = nodeOptions === "" ? "Node's defaults" : `NODE_OPTIONS "${nodeOptions}"`;
  for (let round = 0; round < runCount; round += 1) {
    const order = round % 2 === 0 ? ["yaml", "check"] : ["check", "yaml"];
    for (const name of order) {
      log(`cli: round ${round + 1}/${runCount}, ${name}, ${settings}`);
      if (name === "yaml") {
        const run = await runTimed(ctx, [join(ctx.bench, "parse-yaml.mjs"), dir], nodeOptions);
        if (run.code !== 0) throw new Error(`parse-yaml.mjs failed: ${run.stderr}`);
        documents = JSON.parse(run.stdout).documents;
        runs.yaml.push(run);
      } else {
        const run = await runTimed(ctx, [cli, "check", "--output", "json", dir], nodeOptions);
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
async function benchmarkServeManifests(ctx, runCount, nodeOptions) {
  const { log, workDir } = ctx;
  const dir = join(workDir, "serve-manifests");
  const statefulSets = await writeServerManifests(dir);
  const certs = await writeCertificates(ctx.root, join(workDir, "serve-manifests-certs"));
  const runs = { yaml: [], serve: [] };
  for (let round = 0; round < runCount; round += 1) {
    const order = round % 2 === 0 ? ["yaml", "serve"] : ["serve", "yaml"];
    for (const name of order) {
      log(`cli: round ${round + 1}/${runCount}, ${name} (serve --manifests input)`);
      if (name === "yaml") {
        const run = await runTimed(ctx, [join(ctx.bench, "parse-yaml.mjs"), dir], nodeOptions);
        if (run.code !== 0) throw new Error(`parse-yaml.mjs failed: ${run.stderr}`);
        runs.yaml.push(run.maxRssBytes);
      } else {
        const server = await startServerChild({
          name: "stsguard",
          node: ctx.node,
          script: join(ctx.bench, "stsguard-server.mjs"),
          args: [certs.cert, certs.key, dir],
          logFile: join(workDir, "serve-manifests.log"),
          env: { NODE_OPTIONS: nodeOptions },
        });
        try {
          runs.serve.push((await askChild(server, "stats")).maxRssBytes);
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
