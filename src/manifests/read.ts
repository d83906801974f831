import { readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { detachFromTree, newReparseCache } from "./detach.js";
import { forEachManifestDocument, parseManifestText, type ParsedManifests } from "./parse.js";
import type { InputProblem, ManifestDocument, ManifestObject } from "./types.js";

export type { InputProblem, ManifestDocument, ManifestObject, SourcePosition } from "./types.js";

export interface ReadOptions {
  readonly cwd: string;
  /** Read for the path `-`. */
  readonly stdin?: NodeJS.ReadableStream;
  /** Namespace of objects without one, as kubectl's current namespace (default `default`). */
  readonly defaultNamespace?: string;
}

/** One input file's text, as read. */
export interface ManifestText {
  readonly file: string;
  readonly absolutePath: string | undefined;
  readonly text: string;
}

/** One input file, read and parsed once. */
export interface ManifestFile extends ManifestText {
  readonly parsed: ParsedManifests;
}

/** The file name used for standard input in reports. */
export const STDIN_NAME = "<stdin>";

const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);
// Files are read a few at a time: enough to overlap I/O, few enough not to run out of descriptors.
const READ_CONCURRENCY = 16;

/**
 * Reads Kubernetes objects from files, directories (recursively: .yaml, .yml, .json) and
 * stdin (`-`). Never throws for bad input: unreadable paths, syntax errors, non-object
 * documents and duplicate objects come back as problems, and everything else is still read.
 */
export async function readManifests(
  paths: readonly string[],
  options: ReadOptions,
): Promise<{ documents: ManifestDocument[]; problems: InputProblem[] }> {
  const { files, problems } = await readManifestFiles(paths, options);
  const documents = files.flatMap((f) => f.parsed.documents);
  return {
    documents,
    problems: [
      ...problems,
      ...files.flatMap((f) => f.parsed.problems),
      ...findDuplicateObjects(documents),
    ],
  };
}

/**
 * Like `readManifests`, but the objects keep no YAML tree: each document's tree is dropped as
 * soon as its object is taken, so memory grows with the plain objects, not with the parse.
 */
export async function readManifestObjects(
  paths: readonly string[],
  options: ReadOptions,
): Promise<{ documents: ManifestObject[]; problems: InputProblem[] }> {
  const documents: ManifestObject[] = [];
  const parseProblems: InputProblem[] = [];
  const duplicates = new DuplicateTracker();
  const cache = newReparseCache();
  const pathProblems = await forEachManifestText(paths, options, ({ file, absolutePath, text }) => {
    const problems = forEachManifestDocument(
      text,
      { file, absolutePath },
      options.defaultNamespace ?? "default",
      (doc) => {
        const detached = detachFromTree(doc, text, cache);
        documents.push(detached);
        duplicates.add(detached);
      },
    );
    parseProblems.push(...problems);
  });
  return { documents, problems: [...pathProblems, ...parseProblems, ...duplicates.problems] };
}

/**
 * Reads the input files one after the other, in order, hands each text (without a byte-order
 * mark) to `visit` and keeps nothing: a caller that takes what it needs from each file holds
 * one at a time (a few more are being read ahead). Returns the path and read errors.
 */
export async function forEachManifestText(
  paths: readonly string[],
  options: ReadOptions,
  visit: (text: ManifestText) => void,
): Promise<InputProblem[]> {
  const { targets, problems } = await listTargets(paths, options);
  const reads = new Map<number, Promise<ManifestText | InputProblem>>();
  for (let index = 0; index < targets.length; index += 1) {
    // Reads run a few files ahead; the visits stay in order, one file at a time.
    for (
      let ahead = index;
      ahead < Math.min(targets.length, index + READ_CONCURRENCY);
      ahead += 1
    ) {
      if (!reads.has(ahead)) reads.set(ahead, readTarget(targets[ahead] as Target, options));
    }
    const read = await (reads.get(index) as Promise<ManifestText | InputProblem>);
    reads.delete(index);
    if ("text" in read) visit({ ...read, text: stripBom(read.text) });
    else problems.push(read);
  }
  return problems;
}

/** Reads and parses every input file once; `problems` holds only the path errors. */
export async function readManifestFiles(
  paths: readonly string[],
  options: ReadOptions,
): Promise<{ files: ManifestFile[]; problems: InputProblem[] }> {
  const { targets, problems } = await listTargets(paths, options);
  const files = await mapLimited(targets, READ_CONCURRENCY, async (target) => {
    const read = await readTarget(target, options);
    if (!("text" in read)) {
      problems.push(read);
      return null;
    }
    const source = { file: read.file, absolutePath: read.absolutePath };
    const parsed = parseManifestText(
      stripBom(read.text),
      source,
      options.defaultNamespace ?? "default",
    );
    return { ...read, parsed };
  });
  return { files: files.filter((f): f is ManifestFile => f !== null), problems };
}

interface Target {
  /** Undefined for standard input. */
  readonly absolutePath: string | undefined;
}

/** The files to read, each once, in order; `problems` holds the paths that could not be listed. */
async function listTargets(
  paths: readonly string[],
  options: ReadOptions,
): Promise<{ targets: Target[]; problems: InputProblem[] }> {
  const problems: InputProblem[] = [];
  const targets: Target[] = [];
  const seen = new Set<string>();
  const tree = await resolveTree(paths, options.cwd);
  for (const given of paths) {
    if (given === "-") {
      if (!seen.has(STDIN_NAME)) targets.push({ absolutePath: undefined });
      seen.add(STDIN_NAME);
      continue;
    }
    const found = await expandPath(path.resolve(options.cwd, given), given, problems, tree);
    for (const absolutePath of found) {
      if (seen.has(absolutePath)) continue;
      seen.add(absolutePath);
      targets.push({ absolutePath });
    }
  }
  return { targets, problems };
}

async function readTarget(
  { absolutePath }: Target,
  options: ReadOptions,
): Promise<ManifestText | InputProblem> {
  const file = absolutePath === undefined ? STDIN_NAME : toDisplayPath(options.cwd, absolutePath);
  let text: string;
  try {
    text =
      absolutePath === undefined
        ? await readStream(options.stdin)
        : await readFile(absolutePath, "utf8");
  } catch (error: unknown) {
    return { file, severity: "error", message: `cannot read ${file}: ${describeReadError(error)}` };
  }
  return { file, absolutePath, text };
}

/**
 * The paths given, as the walk judges symbolic links by: their real paths, and how to name them
 * in a message. A path given is read even when it is itself a link (whoever runs the command
 * named it); inside a directory, a link is followed only to somewhere under one of these, so
 * that a file in the tree cannot make `check` read (and print parts of) a file elsewhere, or
 * `fix` write one.
 */
interface GivenTree {
  readonly roots: readonly string[];
  readonly cwd: string;
  readonly described: string;
}

async function resolveTree(paths: readonly string[], cwd: string): Promise<GivenTree> {
  const given = paths.filter((p) => p !== "-");
  const roots = await Promise.all(
    given.map((p) => realpath(path.resolve(cwd, p)).catch(() => null)),
  );
  return {
    roots: roots.filter((root): root is string => root !== null),
    cwd,
    described: given.join(", "),
  };
}

function isInside(tree: GivenTree, real: string): boolean {
  return tree.roots.some((root) => real === root || real.startsWith(`${root}${path.sep}`));
}

/** Files under a path: the file itself, or the manifest files of a directory tree, sorted. */
async function expandPath(
  absolutePath: string,
  given: string,
  problems: InputProblem[],
  tree: GivenTree,
): Promise<string[]> {
  try {
    const info = await stat(absolutePath);
    if (!info.isDirectory()) return [absolutePath];
    const found: string[] = [];
    await walkDirectory(absolutePath, { found, visited: new Set(), problems, tree });
    if (found.length === 0) {
      problems.push({
        file: given,
        severity: "warning",
        message: `no .yaml, .yml or .json files under ${given}`,
      });
    }
    return found;
  } catch (error: unknown) {
    problems.push({
      file: given,
      severity: "error",
      message: `cannot read ${given}: ${describeReadError(error)}`,
    });
    return [];
  }
}

interface Walk {
  readonly found: string[];
  /** Real paths of the directories walked: links may loop back to a parent. */
  readonly visited: Set<string>;
  readonly problems: InputProblem[];
  readonly tree: GivenTree;
}

async function walkDirectory(dir: string, walk: Walk): Promise<void> {
  const real = await realpath(dir);
  if (walk.visited.has(real)) return;
  walk.visited.add(real);
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const child = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      await followLink(child, entry.name, walk);
    } else if (entry.isDirectory()) {
      await walkDirectory(child, walk);
    } else if (entry.isFile() && hasManifestExtension(entry.name)) {
      walk.found.push(child);
    }
  }
}

/**
 * A link inside the tree: followed, under its real path, when that is inside the paths given
 * (read once, and never written through); refused with an error when it leads outside them, so
 * that the run fails rather than pass over a file `kubectl apply` would follow. A link to
 * nothing, or to something that is neither a directory nor a manifest file, is not a manifest.
 */
async function followLink(link: string, name: string, walk: Walk): Promise<void> {
  const target = await realpath(link).catch(() => null);
  const info = target === null ? null : await stat(target).catch(() => null);
  if (target === null || info === null) return;
  const isManifest = info.isFile() && hasManifestExtension(name);
  if (!info.isDirectory() && !isManifest) return;
  if (!isInside(walk.tree, target)) {
    const shown = toDisplayPath(walk.tree.cwd, link);
    walk.problems.push({
      file: shown,
      severity: "error",
      message:
        `skipped ${shown}: a symbolic link to ${target}, outside the paths given ` +
        `(${walk.tree.described}); links are followed only within them: give the target's path ` +
        `too, or replace the link with the file`,
    });
    return;
  }
  if (info.isDirectory()) await walkDirectory(target, walk);
  else walk.found.push(target);
}

function hasManifestExtension(name: string): boolean {
  return MANIFEST_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/** Relative to the working directory when the file is under it, else absolute. */
export function toDisplayPath(cwd: string, absolutePath: string): string {
  const relative = path.relative(cwd, absolutePath);
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative)
    ? relative
    : absolutePath;
}

async function readStream(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) throw new Error("no standard input available");
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Two objects with one identity: which one would apply is up to ordering, so say so. */
export function findDuplicateObjects(documents: readonly ManifestObject[]): InputProblem[] {
  const duplicates = new DuplicateTracker();
  for (const doc of documents) duplicates.add(doc);
  return duplicates.problems;
}

/**
 * Finds duplicate objects as they are read; keeps the identity and position of each first
 * definition only, not the object.
 */
export class DuplicateTracker {
  readonly problems: InputProblem[] = [];
  private readonly first = new Map<string, { file: string; line: number; column: number }>();

  add(doc: ManifestObject): void {
    if (doc.name === undefined) return;
    const group = doc.apiVersion.includes("/") ? doc.apiVersion.split("/")[0] : "";
    const key = `${group ?? ""}/${doc.kind}/${doc.namespace}/${doc.name}`;
    const at = doc.locate(["metadata", "name"], "value");
    const earlier = this.first.get(key);
    if (!earlier) {
      this.first.set(key, { file: doc.file, line: at.line, column: at.column });
      return;
    }
    this.problems.push({
      file: doc.file,
      line: at.line,
      column: at.column,
      severity: "error",
      message: `duplicate ${doc.kind} ${doc.namespace}/${doc.name}: also defined at ${earlier.file}:${earlier.line}:${earlier.column}`,
    });
  }
}

function describeReadError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "no such file or directory";
    if (code === "EACCES") return "permission denied";
    if (code === "EISDIR") return "is a directory";
    return error.message;
  }
  return String(error);
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
