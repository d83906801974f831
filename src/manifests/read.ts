import { readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { parseManifestText, type ParsedManifests } from "./parse.js";
import type { InputProblem, ManifestDocument } from "./types.js";

export type { InputProblem, ManifestDocument, SourcePosition } from "./types.js";

export interface ReadOptions {
  readonly cwd: string;
  /** Read for the path `-`. */
  readonly stdin?: NodeJS.ReadableStream;
  /** Namespace of objects without one, as kubectl's current namespace (default `default`). */
  readonly defaultNamespace?: string;
}

/** One input file, read and parsed once. */
export interface ManifestFile {
  readonly file: string;
  readonly absolutePath: string | undefined;
  readonly text: string;
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

/** Reads and parses every input file once; `problems` holds only the path errors. */
export async function readManifestFiles(
  paths: readonly string[],
  options: ReadOptions,
): Promise<{ files: ManifestFile[]; problems: InputProblem[] }> {
  const defaultNamespace = options.defaultNamespace ?? "default";
  const problems: InputProblem[] = [];
  const targets: { absolutePath: string | undefined }[] = [];
  const seen = new Set<string>();
  for (const given of paths) {
    if (given === "-") {
      if (!seen.has(STDIN_NAME)) targets.push({ absolutePath: undefined });
      seen.add(STDIN_NAME);
      continue;
    }
    const found = await expandPath(path.resolve(options.cwd, given), given, problems);
    for (const absolutePath of found) {
      if (seen.has(absolutePath)) continue;
      seen.add(absolutePath);
      targets.push({ absolutePath });
    }
  }
  const files = await mapLimited(targets, READ_CONCURRENCY, async ({ absolutePath }) => {
    const file = absolutePath === undefined ? STDIN_NAME : toDisplayPath(options.cwd, absolutePath);
    let text: string;
    try {
      text =
        absolutePath === undefined
          ? await readStream(options.stdin)
          : await readFile(absolutePath, "utf8");
    } catch (error: unknown) {
      problems.push({
        file,
        severity: "error",
        message: `cannot read ${file}: ${describeReadError(error)}`,
      });
      return null;
    }
    const parsed = parseManifestText(stripBom(text), { file, absolutePath }, defaultNamespace);
    return { file, absolutePath, text, parsed };
  });
  return { files: files.filter((f): f is ManifestFile => f !== null), problems };
}

/** Files under a path: the file itself, or the manifest files of a directory tree, sorted. */
async function expandPath(
  absolutePath: string,
  given: string,
  problems: InputProblem[],
): Promise<string[]> {
  try {
    const info = await stat(absolutePath);
    if (!info.isDirectory()) return [absolutePath];
    const found: string[] = [];
    await walkDirectory(absolutePath, found, new Set());
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

async function walkDirectory(dir: string, found: string[], visited: Set<string>): Promise<void> {
  // Symbolic links may loop back to a parent; each real directory is walked once.
  const real = await realpath(dir);
  if (visited.has(real)) return;
  visited.add(real);
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const child = path.join(dir, entry.name);
    const isLink = entry.isSymbolicLink();
    const info = isLink ? await stat(child).catch(() => null) : null;
    if (entry.isDirectory() || info?.isDirectory()) {
      await walkDirectory(child, found, visited);
    } else if ((entry.isFile() || info?.isFile()) && hasManifestExtension(entry.name)) {
      found.push(child);
    }
  }
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
export function findDuplicateObjects(documents: readonly ManifestDocument[]): InputProblem[] {
  const first = new Map<string, ManifestDocument>();
  const problems: InputProblem[] = [];
  for (const doc of documents) {
    if (doc.name === undefined) continue;
    const group = doc.apiVersion.includes("/") ? doc.apiVersion.split("/")[0] : "";
    const key = `${group ?? ""}/${doc.kind}/${doc.namespace}/${doc.name}`;
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, doc);
      continue;
    }
    const at = doc.locate(["metadata", "name"], "value");
    const was = earlier.locate(["metadata", "name"], "value");
    problems.push({
      file: doc.file,
      line: at.line,
      column: at.column,
      severity: "error",
      message: `duplicate ${doc.kind} ${doc.namespace}/${doc.name}: also defined at ${earlier.file}:${was.line}:${was.column}`,
    });
  }
  return problems;
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
