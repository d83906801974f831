// Latency against offered load, and the SVG chart of it: autocannon at a fixed overall request
// rate (open-loop as far as autocannon goes: it sends at the rate whatever the answers do) for
// each load, the latency percentiles of each run, drawn for stsguard and the bare baseline.
// The chart is plain SVG text written here, no library.

/** One run at `rate` requests per second; throws on any non-2xx answer or error. */
export async function measureAtRate({ port, requests, connections, rate, durationSeconds }) {
  const { default: autocannon } = await import("autocannon");
  const result = await autocannon({
    url: `https://127.0.0.1:${port}`,
    connections,
    duration: durationSeconds,
    overallRate: rate,
    pipelining: 1,
    requests: requests.map((r) => ({
      method: "POST",
      path: r.path,
      headers: { "content-type": "application/json" },
      body: r.body,
    })),
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `port ${port} at ${rate} req/s: ${result.non2xx} non-2xx, ${result.errors} errors`,
    );
  }
  return {
    offered: rate,
    achieved: Math.round(result.requests.total / durationSeconds),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
  };
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 64, right: 180, top: 40, bottom: 52 };

const SERIES_STYLE = {
  "stsguard p50": { color: "#d9480f", dash: "" },
  "stsguard p99": { color: "#d9480f", dash: "6 4" },
  "baseline p50": { color: "#1c7ed6", dash: "" },
  "baseline p99": { color: "#1c7ed6", dash: "6 4" },
};

function escapeXml(text) {
  return String(text).replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceCeiling(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * `runs`: { baseline: [{ offered, p50Ms, p99Ms }...], stsguard: [...] }, same offered loads.
 * Returns the SVG document as a string.
 */
export function renderLatencyChart({ title, subtitle, runs }) {
  const series = [];
  for (const server of ["stsguard", "baseline"]) {
    for (const p of ["p50", "p99"]) {
      series.push({
        name: `${server} ${p}`,
        points: runs[server].map((r) => [r.offered, r[`${p}Ms`]]),
      });
    }
  }
  const allX = series.flatMap((s) => s.points.map(([x]) => x));
  const allY = series.flatMap((s) => s.points.map(([, y]) => y));
  const xMax = niceCeiling(Math.max(...allX));
  const yMax = niceCeiling(Math.max(...allY) * 1.05);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x) => MARGIN.left + (x / xMax) * plotW;
  const sy = (y) => MARGIN.top + plotH - (y / yMax) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${MARGIN.left}" y="34" fill="#555">${escapeXml(subtitle)}</text>`,
  ];
  for (let i = 0; i <= 5; i += 1) {
    const y = (yMax / 5) * i;
    const x = (xMax / 5) * i;
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e9ecef"/>`,
      `<text x="${MARGIN.left - 6}" y="${sy(y) + 4}" text-anchor="end">${round(y, 2)}</text>`,
      `<line x1="${sx(x)}" x2="${sx(x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#e9ecef"/>`,
      `<text x="${sx(x)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${round(x, 0)}</text>`,
    );
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#868e96"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">offered load (requests/s)</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`,
  );
  series.forEach((s, index) => {
    const style = SERIES_STYLE[s.name];
    const path = s.points.map(
      ([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`,
    );
    out.push(
      `<path d="${path.join(" ")}" fill="none" stroke="${style.color}" stroke-width="2"${style.dash ? ` stroke-dasharray="${style.dash}"` : ""}/>`,
    );
    for (const [x, y] of s.points) {
      out.push(
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${style.color}"/>`,
      );
    }
    const ly = MARGIN.top + 12 + index * 20;
    const lx = MARGIN.left + plotW + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${style.color}" stroke-width="2"${style.dash ? ` stroke-dasharray="${style.dash}"` : ""}/>`,
      `<text x="${lx + 34}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push("</svg>", "");
  return out.join("\n");
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
