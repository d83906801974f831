// The readiness baseline of bench/cluster.mjs: list StatefulSets and Services from the API
// server in pages of stsguard's size, both collections at once, over HTTPS with a bearer token
// and kept-alive connections, JSON.parse each page, keep nothing; print the item count and peak
// RSS as JSON, exit. The least any client of this API server pays to read what stsguard's caches
// read.
// Usage: BENCH_TOKEN=... node bench/list-baseline.mjs <api server URL> <CA file> <page size>
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";

const [url, caFile, pageSize] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, ca: readFileSync(caFile) });
const { hostname, port } = new URL(url);

function get(path) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        path,
        agent,
        headers: { authorization: `Bearer ${process.env.BENCH_TOKEN}`, accept: "application/json" },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${res.statusCode}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function listAll(path) {
  let items = 0;
  let token = "";
  do {
    const page = await get(
      `${path}?limit=${pageSize}${token ? `&continue=${encodeURIComponent(token)}` : ""}`,
    );
    items += Number(page.items.length);
    token = page.metadata.continue ?? "";
  } while (token);
  return items;
}

const counts = await Promise.all([
  listAll("/apis/apps/v1/statefulsets"),
  listAll("/api/v1/services"),
]);
agent.destroy();
process.stdout.write(
  JSON.stringify({
    items: counts[0] + counts[1],
    // resourceUsage().maxRSS is in kilobytes.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
