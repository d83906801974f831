import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * No Docker engine runs in CI, so the image's invariants are checked on the Dockerfile's text:
 * each check below is also run against a broken copy to prove it can fail.
 */

const REPO = resolve(import.meta.dirname, "../..");

/**
 * End of life of the Node LTS lines (https://github.com/nodejs/Release). A line missing here,
 * or past its date, fails the test: bump the base image (and the `node` devDependency).
 */
const NODE_LTS_END_OF_LIFE: Readonly<Record<number, string>> = {
  20: "2026-04-30",
  22: "2027-04-30",
  24: "2028-04-30",
  26: "2029-04-30",
};

const ENTRYPOINT = ["node", "/app/dist/cli.js"];
const CMD = ["serve"];
const PORTS = ["8443", "9090"];

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly image: string;
  readonly name: string | null;
  readonly instructions: readonly Instruction[];
}

interface CheckContext {
  readonly dockerfile: string;
  readonly dockerignore: string;
  /** Major version of the Node the test suite runs on (node_modules/node). */
  readonly testNodeMajor: number;
  readonly today: Date;
}

function parseInstructions(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, " ");
  const instructions: Instruction[] = [];
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]! });
  }
  return instructions;
}

function parseStages(text: string): Stage[] {
  const stages: { image: string; name: string | null; instructions: Instruction[] }[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === "FROM") {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      const asIndex = words.findIndex((w) => w.toUpperCase() === "AS");
      stages.push({
        image: words[0] ?? "",
        name: asIndex >= 0 ? (words[asIndex + 1] ?? null) : null,
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

function splitWords(args: string): string[] {
  return args.split(/\s+/).filter((w) => w !== "");
}

/** `COPY [--from=x] src... dest`: the stage it copies from (null: the build context). */
function parseCopy(args: string): { from: string | null; sources: string[]; dest: string } {
  const words = splitWords(args);
  const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length) ?? null;
  const paths = words.filter((w) => !w.startsWith("--"));
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" };
}

function findStage(stages: readonly Stage[], name: string | null): Stage | undefined {
  return stages.find((s) => s.name === name);
}

function runsNpm(stage: Stage, pattern: RegExp): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === "RUN" && pattern.test(i.args));
}

function checkBaseImages(stages: readonly Stage[], context: CheckContext): string[] {
  const stageNames = new Set(stages.map((s) => s.name));
  const images = stages.map((s) => s.image).filter((image) => !stageNames.has(image));
  const problems: string[] = [];
  if (new Set(images).size !== 1)
    problems.push(`stages use different base images: ${images.join(", ")}`);
  for (const image of images) {
    const match = /^node:(\d+)\.\d+\.\d+-[a-z0-9-]+(@sha256:[0-9a-f]{64})?$/.exec(image);
    if (!match) {
      problems.push(`base image ${image} is not pinned to an exact node:X.Y.Z-<variant>`);
      continue;
    }
    const major = Number(match[1]);
    const endOfLife = NODE_LTS_END_OF_LIFE[major];
    if (endOfLife === undefined || new Date(`${endOfLife}T00:00:00Z`) <= context.today) {
      problems.push(`base image ${image} is not a supported Node LTS line`);
    }
    if (major !== context.testNodeMajor) {
      problems.push(`base image ${image} is not Node ${context.testNodeMajor}, the tests' Node`);
    }
  }
  return problems;
}

function checkUser(final: Stage): string[] {
  const user = final.instructions
    .filter((i) => i.keyword === "USER")
    .at(-1)
    ?.args.trim();
  if (user === undefined) return ["the final stage sets no USER, so it runs as root"];
  const uid = /^(\d+)(:\d+)?$/.exec(user)?.[1];
  if (uid === undefined) return [`USER ${user} is not numeric; runAsNonRoot cannot verify it`];
  return Number(uid) === 0 ? [`USER ${user} is root`] : [];
}

function checkNodeEnv(final: Stage): string[] {
  const production = final.instructions.some(
    (i) => i.keyword === "ENV" && /(^|\s)NODE_ENV(=|\s+)"?production"?(\s|$)/.test(i.args),
  );
  return production ? [] : ["the final stage does not set NODE_ENV=production"];
}

/**
 * The image runs `check` and `audit` too: a V8 heap cap sized for the webhook (the chart's
 * `nodeOptions`) would abort them on large inputs, so the image's NODE_OPTIONS sets none.
 */
function checkHeapCap(final: Stage): string[] {
  return final.instructions
    .filter((i) => i.keyword === "ENV" && /\bNODE_OPTIONS\b/.test(i.args))
    .filter((i) => /--max-old-space-size|--max-heap-size/.test(i.args))
    .map((i) => `the image's NODE_OPTIONS caps the V8 heap for every command: ${i.args}`);
}

/** node_modules in the final image must come from an install that left dev dependencies out. */
function checkProductionDependencies(stages: readonly Stage[], final: Stage): string[] {
  const problems: string[] = [];
  const installs = runsNpm(final, /\bnpm\s+(ci|install|i)\b/);
  const copies = final.instructions
    .filter((i) => i.keyword === "COPY")
    .map((i) => parseCopy(i.args))
    .filter((c) => c.from !== null && c.sources.some((s) => s.includes("node_modules")));
  for (const copy of copies) {
    const source = findStage(stages, copy.from);
    if (source) installs.push(...runsNpm(source, /\bnpm\s+(ci|install|i)\b/));
    else problems.push(`node_modules is copied from unknown stage ${copy.from}`);
  }
  if (installs.length === 0) problems.push("the final image gets node_modules from no npm install");
  for (const install of installs) {
    if (!/\bnpm\s+ci\b/.test(install.args))
      problems.push(`not a lockfile install: ${install.args}`);
    if (!install.args.includes("--omit=dev")) problems.push(`installs dev deps: ${install.args}`);
    if (!install.args.includes("--ignore-scripts")) {
      problems.push(`runs install scripts: ${install.args}`);
    }
  }
  return problems;
}

function checkEntrypoint(stages: readonly Stage[], final: Stage): string[] {
  const problems: string[] = [];
  const last = (keyword: string): string | undefined =>
    final.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
  const parseExecForm = (args: string | undefined): unknown => {
    try {
      return args === undefined ? undefined : JSON.parse(args);
    } catch {
      return args;
    }
  };
  const entrypoint = parseExecForm(last("ENTRYPOINT"));
  if (JSON.stringify(entrypoint) !== JSON.stringify(ENTRYPOINT)) {
    problems.push(`ENTRYPOINT is ${JSON.stringify(entrypoint)}, not ${JSON.stringify(ENTRYPOINT)}`);
  }
  const cmd = parseExecForm(last("CMD"));
  if (JSON.stringify(cmd) !== JSON.stringify(CMD)) problems.push(`CMD is ${JSON.stringify(cmd)}`);
  const distCopy = final.instructions
    .filter((i) => i.keyword === "COPY")
    .map((i) => parseCopy(i.args))
    .find((c) => c.sources.some((s) => /\/dist\/?$/.test(s)));
  const builder = distCopy ? findStage(stages, distCopy.from) : undefined;
  if (!builder || runsNpm(builder, /\bnpm\s+run\s+build\b/).length === 0) {
    problems.push("dist/ is not copied from a stage that runs `npm run build`");
  }
  return problems;
}

function checkExpose(final: Stage): string[] {
  const exposed = final.instructions
    .filter((i) => i.keyword === "EXPOSE")
    .flatMap((i) => splitWords(i.args).map((p) => p.replace(/\/tcp$/, "")));
  return PORTS.filter((p) => !exposed.includes(p)).map((p) => `port ${p} is not exposed`);
}

/** The context must start from "ignore everything" and re-include exactly what COPY reads. */
function checkDockerignore(stages: readonly Stage[], dockerignore: string): string[] {
  const patterns = dockerignore
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const problems: string[] = [];
  if (patterns[0] !== "*") problems.push(".dockerignore does not start by ignoring everything");
  const included = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  const contextSources = stages
    .flatMap((s) => s.instructions)
    .filter((i) => i.keyword === "COPY" || i.keyword === "ADD")
    .map((i) => parseCopy(i.args))
    .filter((c) => c.from === null)
    .flatMap((c) => c.sources.map((s) => s.replace(/^\.\//, "").replace(/\/$/, "")));
  for (const source of contextSources) {
    const isIncluded = included.some((p) => source === p || source.startsWith(`${p}/`));
    if (!isIncluded) problems.push(`COPY ${source} is excluded by .dockerignore`);
  }
  return problems;
}

function findImageProblems(context: CheckContext): string[] {
  const stages = parseStages(context.dockerfile);
  const final = stages.at(-1);
  if (!final) return ["the Dockerfile has no FROM"];
  return [
    ...checkBaseImages(stages, context),
    ...checkUser(final),
    ...checkNodeEnv(final),
    ...checkHeapCap(final),
    ...checkProductionDependencies(stages, final),
    ...checkEntrypoint(stages, final),
    ...checkExpose(final),
    ...checkDockerignore(stages, context.dockerignore),
  ];
}

async function readRealContext(): Promise<CheckContext> {
  const nodePackage: unknown = JSON.parse(
    await readFile(join(REPO, "node_modules/node/package.json"), "utf8"),
  );
  const version = (nodePackage as { version?: unknown }).version;
  if (typeof version !== "string") throw new Error("node_modules/node/package.json has no version");
  return {
    dockerfile: await readFile(join(REPO, "Dockerfile"), "utf8"),
    dockerignore: await readFile(join(REPO, ".dockerignore"), "utf8"),
    testNodeMajor: Number(version.split(".")[0]),
    today: new Date(),
  };
}

describe("Dockerfile", () => {
  it("meets every image invariant", async () => {
    expect(findImageProblems(await readRealContext())).toEqual([]);
  });

  const replace = (text: string, from: RegExp | string, to: string): string => {
    const replaced = text.replace(from, to);
    if (replaced === text) throw new Error(`mutation ${String(from)} did not apply`);
    return replaced;
  };
  const mutations: {
    name: string;
    mutate: (c: CheckContext) => Partial<CheckContext>;
    problem: RegExp;
  }[] = [
    {
      name: "rejects a floating tag",
      mutate: (c) => ({ dockerfile: c.dockerfile.replaceAll("node:24.21.0-", "node:24-") }),
      problem: /not pinned/,
    },
    {
      name: "rejects Node 20, past its end of life",
      mutate: (c) => ({
        dockerfile: c.dockerfile.replaceAll(/node:\d+\.\d+\.\d+-/g, "node:20.19.5-"),
        testNodeMajor: 20,
      }),
      problem: /not a supported Node LTS line/,
    },
    {
      name: "rejects any line once its end of life has passed",
      mutate: () => ({ today: new Date("2028-05-01T00:00:00Z") }),
      problem: /not a supported Node LTS line/,
    },
    {
      name: "rejects a base image on another major than the tests' Node",
      mutate: (c) => ({ testNodeMajor: c.testNodeMajor + 2 }),
      problem: /not Node \d+, the tests' Node/,
    },
    {
      name: "rejects stages on different base images",
      mutate: (c) => ({
        dockerfile: replace(
          c.dockerfile,
          /node:\S+ AS build/,
          "node:22.21.1-bookworm-slim AS build",
        ),
      }),
      problem: /different base images/,
    },
    {
      name: "rejects a missing USER",
      mutate: (c) => ({ dockerfile: replace(c.dockerfile, /^USER .*$/m, "") }),
      problem: /no USER/,
    },
    {
      name: "rejects USER root",
      mutate: (c) => ({ dockerfile: replace(c.dockerfile, /^USER .*$/m, "USER 0:0") }),
      problem: /is root/,
    },
    {
      name: "rejects a non-numeric USER",
      mutate: (c) => ({ dockerfile: replace(c.dockerfile, /^USER .*$/m, "USER node") }),
      problem: /not numeric/,
    },
    {
      name: "rejects an install with dev dependencies",
      mutate: (c) => ({ dockerfile: replace(c.dockerfile, "--omit=dev ", "") }),
      problem: /installs dev deps/,
    },
    {
      name: "rejects node_modules copied from the build stage",
      mutate: (c) => ({
        dockerfile: replace(
          c.dockerfile,
          "--from=prod-deps /app/node_modules",
          "--from=build /app/node_modules",
        ),
      }),
      problem: /installs dev deps/,
    },
    {
      name: "rejects a runtime without NODE_ENV=production",
      mutate: (c) => ({ dockerfile: replace(c.dockerfile, /^ENV NODE_ENV=production$/m, "") }),
      problem: /NODE_ENV/,
    },
    {
      name: "rejects a V8 heap cap in the image's NODE_OPTIONS, which would abort a large `check`",
      mutate: (c) => ({
        dockerfile: replace(
          c.dockerfile,
          /^ENV NODE_OPTIONS="([^"]*)"$/m,
          'ENV NODE_OPTIONS="$1 --max-old-space-size=128"',
        ),
      }),
      problem: /caps the V8 heap/,
    },
    {
      name: "rejects an ENTRYPOINT that does not run dist/cli.js",
      mutate: (c) => ({
        dockerfile: replace(c.dockerfile, /^ENTRYPOINT .*$/m, 'ENTRYPOINT ["npm", "start"]'),
      }),
      problem: /ENTRYPOINT is/,
    },
    {
      name: "rejects a shell-form ENTRYPOINT, which would not forward SIGTERM",
      mutate: (c) => ({
        dockerfile: replace(c.dockerfile, /^ENTRYPOINT .*$/m, "ENTRYPOINT node /app/dist/cli.js"),
      }),
      problem: /ENTRYPOINT is/,
    },
    {
      name: "rejects a missing port",
      mutate: (c) => ({ dockerfile: replace(c.dockerfile, /^EXPOSE .*$/m, "EXPOSE 8443") }),
      problem: /port 9090/,
    },
    {
      name: "rejects a .dockerignore that lets the whole context in",
      mutate: (c) => ({ dockerignore: replace(c.dockerignore, /^\*$/m, "node_modules") }),
      problem: /does not start by ignoring everything/,
    },
    {
      name: "rejects a .dockerignore that drops a file the build copies",
      mutate: (c) => ({ dockerignore: replace(c.dockerignore, /^!src$/m, "") }),
      problem: /COPY src is excluded/,
    },
  ];

  it.each(mutations)("$name", async ({ mutate, problem }) => {
    const context = await readRealContext();
    const problems = findImageProblems({ ...context, ...mutate(context) });
    expect(
      problems.some((p) => problem.test(p)),
      problems.join("\n"),
    ).toBe(true);
  });
});
