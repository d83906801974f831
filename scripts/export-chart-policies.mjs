// Writes charts/stsguard/templates/admission-policies.yaml from src/policy-export, so the chart
// installs the same CEL as `stsguard export-policies`. Run after `npm run build`:
//   node scripts/export-chart-policies.mjs
// test/chart/admission-policies.test.ts fails when the committed file differs.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderChartTemplate } from "../dist/policy-export/chart-template.js";

const target = fileURLToPath(
  new URL("../charts/stsguard/templates/admission-policies.yaml", import.meta.url),
);
writeFileSync(target, renderChartTemplate());
process.stdout.write(`wrote ${target}\n`);
