// The admission benchmark's shared pieces: the StatefulSets the webhook holds, the load
// generators (autocannon for throughput, a sequential loop over one keep-alive connection for
// latency; both check every answer, so a server that fails fast can never look fast), and the
// protocol between bench/run.mjs and the server children. The servers import this module too,
// so it loads nothing heavy up front.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { join } from "node:path";

/**
 * Throughput with `connections` keep-alive connections for `durationSeconds`; each connection
 * cycles through `requests`. Returns requests per second and the error counts.
 */
export async function measureThroughput({ port, requests, connections, durationSeconds }) {
  const { default: autocannon } = await import("autocannon");
  const result = await autocannon({
    url: `https://127.0.0.1:${port}`,
    connections,
    duration: durationSeconds,
    pipelining: 1,
    requests: requests.map((r) => ({
      method: "POST",
      path: r.path,
      headers: { "content-type": "application/json" },
      body: r.body,
    })),
  });
  return {
    requestsPerSecond: result.requests.total / durationSeconds,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: Number(result.errors) + Number(result.timeouts),
  };
}

/** POSTs one request and returns the status and the parsed body. */
export function postReview(agent, port, ca, { path, body }) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent,
        ca,
        servername: "localhost",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          try {
            resolve({
              status: res.statusCode,
              review: JSON.parse(Buffer.concat(chunks).toString("utf8")),
            });
          } catch (error) {
            reject(new Error(`${path}: answer is not JSON`, { cause: error }));
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Sequential latency of several servers at once: each server gets `count` requests one after
 * the other over its own single keep-alive connection, and the servers take turns request by
 * request (in alternating order), so a burst of noise on the machine hits them alike. Returns
 * each server's round trips in milliseconds. Throws on any answer that is not a 200 with the
 * right uid.
 */
export async function measureSequentialLatency({ ports, ca, requests, count }) {
  const clients = ports.map((port) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    agent.on("free", (socket) => sockets.add(socket));
    return { port, agent, sockets, samples: new Float64Array(count) };
  });
  try {
    for (let i = 0; i < count; i += 1) {
      const r = requests[i % requests.length];
      const order = i % 2 === 0 ? clients : [...clients].reverse();
      for (const client of order) {
        const started = process.hrtime.bigint();
        const { status, review } = await postReview(client.agent, client.port, ca, r);
        client.samples[i] = Number(process.hrtime.bigint() - started) / 1e6;
        if (status !== 200 || review?.response?.uid !== r.uid) {
          throw new Error(
            `port ${client.port} ${r.path}: got ${status} uid ${review?.response?.uid}, want 200 ${r.uid}`,
          );
        }
      }
    }
  } finally {
    for (const client of clients) client.agent.destroy();
  }
  for (const client of clients) {
    if (client.sockets.size !== 1) {
      throw new Error(`port ${client.port}: used ${client.sockets.size} connections, want 1`);
    }
  }
  return clients.map((client) => client.samples);
}

/** The p-th percentile (0..100) of samples, nearest-rank. */
export function percentile(samples, p) {
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function median(values) {
  return percentile(values, 50);
}

// StatefulSets of the webhook's source: 100 files of 100 StatefulSets each (10,000, in 20
// namespaces), plus the `demo/web` StatefulSet and its per-pod Services that the recorded
// admission requests in bench/fixtures refer to. Deterministic.
const SERVER_STATEFULSET_COUNT = 10_000;
const FILES = 100;
const NAMESPACES = 20;

function renderStatefulSet(namespace, name, replicas) {
  return `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app.kubernetes.io/name: ${name}
    team: ${namespace}
spec:
  replicas: ${replicas}
  serviceName: ${name}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: main
          image: registry.example.com/${name}:1.0.0
          ports:
            - containerPort: 8080
`;
}

function renderPerPodService(namespace, statefulSet, ordinal) {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${statefulSet}-${ordinal}
  namespace: ${namespace}
  labels:
    stsguard.io/statefulset: ${statefulSet}
    stsguard.io/ordinal: "${ordinal}"
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector:
    statefulset.kubernetes.io/pod-name: ${statefulSet}-${ordinal}
  ports:
    - port: 80
      targetPort: 80
`;
}

/** Replaces `dir` with the manifests; returns how many StatefulSets it holds. */
export async function writeServerManifests(dir) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const perFile = SERVER_STATEFULSET_COUNT / FILES;
  for (let file = 0; file < FILES; file += 1) {
    const docs = [];
    for (let i = 0; i < perFile; i += 1) {
      const n = file * perFile + i;
      const namespace = `team-${String(n % NAMESPACES).padStart(2, "0")}`;
      docs.push(renderStatefulSet(namespace, `app-${String(n).padStart(5, "0")}`, 1 + (n % 5)));
    }
    await writeFile(
      join(dir, `statefulsets-${String(file).padStart(3, "0")}.yaml`),
      docs.join("---\n"),
    );
  }
  // The recorded requests are for demo/web (2 replicas, pods labelled app: web).
  const web = [
    renderStatefulSet("demo", "web", 2),
    renderPerPodService("demo", "web", 0),
    renderPerPodService("demo", "web", 1),
  ];
  await writeFile(join(dir, "demo-web.yaml"), web.join("---\n"));
  return SERVER_STATEFULSET_COUNT + 1;
}

// The parent (bench/run.mjs) forks each server with an IPC channel. A child reports the port it
// listens on, answers "stats" with its memory figures, and stops on "stop" or when the parent
// goes away, so a crashed benchmark never leaves servers behind.

/** Tells the parent the server is listening. */
export function reportReady(port) {
  process.send({ type: "ready", port });
}

/** Wires the stats and stop messages; `stop` closes the server and resolves when it is down. */
export function serveParentRequests(stop) {
  let stopping = false;
  const stopOnce = async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    if (process.connected) process.disconnect();
  };
  process.on("message", (message) => {
    if (message === "stats") {
      const rssBytes = process.memoryUsage().rss;
      // resourceUsage().maxRSS is in kilobytes. Read before the forced collection below, whose
      // own marking and compaction can raise the peak.
      const maxRssBytes = process.resourceUsage().maxRSS * 1024;
      // The parent forks with --expose-gc: what stays on the heap is what the server holds.
      globalThis.gc?.();
      process.send({
        type: "stats",
        maxRssBytes,
        rssBytes,
        heapUsedAfterGcBytes: process.memoryUsage().heapUsed,
      });
    } else if (message === "stop") {
      void stopOnce();
    }
  });
  process.on("disconnect", () => void stopOnce());
}
