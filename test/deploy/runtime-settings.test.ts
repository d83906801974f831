// The runtime settings are one decision: the chart's `nodeOptions`, the image's NODE_OPTIONS and
// the pages that explain them must say the same thing, or an operator tunes by a stale page.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../cli/built-cli.js";

const read = (path: string): Promise<string> => readFile(join(repoRoot, path), "utf8");
/** Markdown wraps lines anywhere; compare with runs of whitespace folded to one space. */
const folded = (text: string): string => text.replace(/\s+/g, " ");

const values = parse(await read("charts/stsguard/values.yaml")) as { nodeOptions: string };
const chartNodeOptions = values.nodeOptions;
const imageNodeOptions = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(await read("Dockerfile"))?.[1];

describe("runtime settings", () => {
  it("the chart sets a young generation and a heap cap, the image no heap cap", () => {
    expect(chartNodeOptions).toMatch(/--max-semi-space-size=\d+/);
    expect(chartNodeOptions).toMatch(/--max-old-space-size=\d+/);
    expect(imageNodeOptions).toBeDefined();
    expect(imageNodeOptions).not.toMatch(/--max-old-space-size/);
  });

  it.each(["charts/stsguard/README.md", "docs/webhook.md", "docs/deploy.md", "docs/benchmarks.md"])(
    "%s names the chart's nodeOptions as they are",
    async (page) => {
      expect(folded(await read(page))).toContain(chartNodeOptions);
    },
  );

  it.each(["docs/webhook.md", "docs/deploy.md"])(
    "%s names the image's NODE_OPTIONS as they are",
    async (page) => {
      expect(folded(await read(page))).toContain(imageNodeOptions);
    },
  );
});
