// The readiness baseline of bench/cluster.mjs: list StatefulSets and Services from the API
// server at 127.0.0.1:<port> in pages of 500, both collections at once, with fetch and
// JSON.parse, keeping nothing; print the item count and peak RSS as JSON, exit.
// Usage: node bench/list-baseline.mjs <port>
const port = process.argv[2];

async function listAll(path) {
  let items = 0;
  let token = "";
  do {
    const query = `limit=500${token ? `&continue=${encodeURIComponent(token)}` : ""}`;
    const response = await globalThis.fetch(`http://127.0.0.1:${port}${path}?${query}`);
    const page = JSON.parse(await response.text());
    items += Number(page.items.length);
    token = page.metadata.continue ?? "";
  } while (token);
  return items;
}

const counts = await Promise.all([
  listAll("/apis/apps/v1/statefulsets"),
  listAll("/api/v1/services"),
]);
process.stdout.write(
  JSON.stringify({
    items: counts[0] + counts[1],
    // resourceUsage().maxRSS is in kilobytes.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
