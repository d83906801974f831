// Every relative link in the project's Markdown resolves, as GitHub renders it: to a file or
// folder inside the repository, and an #anchor to a heading of the target (GitHub's slugs).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "../certs/tls-probes.js";
import { repoRoot } from "../helpers/objects.js";
import { anchorsOf, brokenLinks, githubSlug, linksOf } from "./markdown-links.js";

const markdownIn = (dir: string): string[] =>
  readdirSync(path.join(repoRoot, dir))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `${dir}/${name}`);

const fixtureReadmes = readdirSync(path.join(repoRoot, "test/fixtures"))
  .map((name) => `test/fixtures/${name}/README.md`)
  .filter((file) => existsSync(path.join(repoRoot, file)));

const files = [
  "README.md",
  "CONTRIBUTING.md",
  ...markdownIn("docs"),
  "charts/stsguard/README.md",
  "certs/README.md",
  ...fixtureReadmes,
];

describe("relative links in the project's Markdown", () => {
  it("reads the README, CONTRIBUTING, every docs page and the other READMEs", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "docs/architecture.md",
        "docs/rules.md",
        "test/fixtures/admission-reviews/README.md",
      ]),
    );
    // Not vacuous: these files hold more than fifty relative links between them.
    const relative = files.flatMap((file) =>
      linksOf(readFileSync(path.join(repoRoot, file), "utf8")).filter(
        (link) => !/^[a-z][a-z0-9+.-]*:/i.test(link.target),
      ),
    );
    expect(relative.length).toBeGreaterThan(50);
  });

  it.each(files)("%s: every relative link and #anchor resolves", (file) => {
    expect(brokenLinks(path.join(repoRoot, file), repoRoot)).toEqual([]);
  });
});

describe("GitHub's heading slugs", () => {
  it.each([
    ["Per-pod Service controller", "per-pod-service-controller"],
    ["`stsguard check PATH... | -`", "stsguard-check-path---"],
    ["The webhook's reachability", "the-webhooks-reachability"],
    ["Rolling out: modes and exemptions", "rolling-out-modes-and-exemptions"],
    [
      "Worked example: three Kafka brokers, then five, then three",
      "worked-example-three-kafka-brokers-then-five-then-three",
    ],
    ["V8's young generation and the CLI", "v8s-young-generation-and-the-cli"],
    ["[docs/rules.md](docs/rules.md) and `max_surge`", "docsrulesmd-and-max_surge"],
  ])("%s → #%s", (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  it("numbers a repeated heading, and ignores headings inside code blocks", () => {
    const markdown = [
      "# Title",
      "## Options",
      "```sh",
      "# not a heading",
      "```",
      "## Options",
      "### Options ###",
    ].join("\n");
    expect([...anchorsOf(markdown)]).toEqual(["title", "options", "options-1", "options-2"]);
  });
});

// The checker itself must be able to fail: a small tree with one of each kind of broken link.
describe("the link checker on a tree with broken links", () => {
  let temp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    temp = await makeTempDir("links");
    await mkdir(path.join(temp.dir, "docs"));
    await writeFile(path.join(temp.dir, "docs", "page.md"), "# Page\n\n## Has a heading\n");
    await writeFile(
      path.join(temp.dir, "README.md"),
      [
        "# Front",
        "[good](docs/page.md) [good anchor](docs/page.md#has-a-heading) [here](#front)",
        "[folder](docs/) [external](https://example.com/x.md#nowhere)",
        "`[in code](nowhere.md)`",
        "```",
        "[in a code block](nowhere.md)",
        "```",
        "[missing file](docs/webhook.md)",
        "[missing anchor](docs/page.md#no-such-heading) [missing here](#nowhere)",
        "[outside](../elsewhere/README.md)",
        "[wrapped",
        "text](docs/gone.md)",
        "[ref]: docs/also-gone.md",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    await temp.remove();
  });

  it("reports each broken link with its line and why, and nothing else", () => {
    expect(brokenLinks(path.join(temp.dir, "README.md"), temp.dir)).toEqual([
      {
        file: "README.md",
        line: 8,
        target: "docs/webhook.md",
        problem: "no such file: docs/webhook.md",
      },
      {
        file: "README.md",
        line: 9,
        target: "docs/page.md#no-such-heading",
        problem: "no heading #no-such-heading in docs/page.md",
      },
      {
        file: "README.md",
        line: 9,
        target: "#nowhere",
        problem: "no heading #nowhere in README.md",
      },
      {
        file: "README.md",
        line: 10,
        target: "../elsewhere/README.md",
        problem: "points outside the repository",
      },
      {
        file: "README.md",
        line: 11,
        target: "docs/gone.md",
        problem: "no such file: docs/gone.md",
      },
      {
        file: "README.md",
        line: 13,
        target: "docs/also-gone.md",
        problem: "no such file: docs/also-gone.md",
      },
    ]);
  });
});
