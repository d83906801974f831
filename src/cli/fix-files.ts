import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parseManifestText } from "../manifests/parse.js";
import type { InputProblem, ManifestDocument, ManifestFile } from "../manifests/read.js";
import {
  evaluateService,
  evaluateStatefulSetApiVersion,
  isStatefulSet,
  parsePodTarget,
  STATEFULSET_API_VERSION,
  readPodNameSelector,
  type PolicyConfig,
  type StatefulSetLookup,
} from "../policy/index.js";
import { isJsonMap } from "../policy/raw-object.js";
import { isCoreService } from "./check-manifests.js";
import {
  applyTextEdits,
  applyTreeToJson,
  diffFixedFields,
  FixError,
  planYamlEdits,
  type PatchTree,
  type TextEdit,
} from "./fix-edits.js";
import type { StatefulSetResolver } from "./statefulset-resolver.js";

export interface FixOptions {
  readonly policy: PolicyConfig;
  readonly resolver: StatefulSetResolver;
}

/** A file and what `fix` would make of it. */
export interface PlannedFix {
  readonly file: ManifestFile;
  /** The file's new content (equal to `file.text` when nothing needs fixing). */
  readonly after: string;
  /** How many objects change. */
  readonly fixedObjects: number;
  /** How many of them are StatefulSets (the rest are Services). */
  readonly fixedStatefulSets: number;
  /** Findings the fix cannot repair (wrong ordinal, missing StatefulSet, ...). */
  readonly remaining: number;
}

interface FixedObject {
  readonly doc: ManifestDocument;
  readonly tree: PatchTree;
  readonly fixed: unknown;
}

/**
 * Works out the fixed content of every file; writes nothing. A file that does not parse, or
 * whose fixed text would not read back as exactly the engine's fixed objects, is left out
 * with a problem, so `fix` never writes what it has not verified.
 */
export async function planFixes(
  files: readonly ManifestFile[],
  options: FixOptions,
): Promise<{ planned: PlannedFix[]; problems: InputProblem[] }> {
  const planned: PlannedFix[] = [];
  const problems: InputProblem[] = [];
  for (const file of files) {
    if (file.parsed.hasErrors) {
      problems.push({
        file: file.file,
        severity: "error",
        message: `${file.file} does not parse; left unchanged`,
      });
      continue;
    }
    const objects: FixedObject[] = [];
    let remaining = 0;
    for (const doc of file.parsed.documents) {
      if (isStatefulSet(doc.object)) {
        const evaluation = evaluateStatefulSetApiVersion(doc.object, doc.namespace, options.policy);
        remaining += evaluation.findings.filter((f) => !f.fixable).length;
        if (evaluation.fixed !== doc.object) {
          objects.push({
            doc,
            tree: { apiVersion: STATEFULSET_API_VERSION },
            fixed: evaluation.fixed,
          });
        }
        continue;
      }
      if (!isCoreService(doc)) continue;
      const lookup = await lookupTarget(doc, options.resolver);
      if (lookup.status === "unavailable") {
        problems.push({
          file: file.file,
          ...doc.locate(["metadata", "name"], "value"),
          severity: "error",
          message: lookup.reason,
        });
      }
      const evaluation = evaluateService(
        doc.object,
        { operation: "CREATE", lookup, namespace: doc.namespace },
        options.policy,
      );
      remaining += evaluation.findings.filter((f) => !f.fixable).length;
      const tree = diffFixedFields(doc.object, evaluation.fixed);
      if (tree) objects.push({ doc, tree, fixed: evaluation.fixed });
    }
    if (objects.length === 0) {
      planned.push({ file, after: file.text, fixedObjects: 0, fixedStatefulSets: 0, remaining });
      continue;
    }
    try {
      const after = rewriteFile(file, objects);
      verifyRewrite(file, after, objects);
      const fixedStatefulSets = objects.filter((o) => isStatefulSet(o.doc.object)).length;
      planned.push({ file, after, fixedObjects: objects.length, fixedStatefulSets, remaining });
    } catch (error: unknown) {
      if (!(error instanceof FixError)) throw error;
      problems.push({
        file: file.file,
        severity: "error",
        message: `cannot fix ${file.file} without changing more than the fields at fault (${error.message}); left unchanged, fix it by hand`,
      });
    }
  }
  return { planned, problems };
}

async function lookupTarget(
  doc: ManifestDocument,
  resolver: StatefulSetResolver,
): Promise<StatefulSetLookup> {
  const selector = readPodNameSelector(doc.object);
  const target = selector ? parsePodTarget(selector.value) : null;
  return target ? resolver.lookup(doc.namespace, target.statefulSet) : { status: "not-found" };
}

function rewriteFile(file: ManifestFile, objects: readonly FixedObject[]): string {
  const json = isJsonFile(file) ? parseJson(file.text) : undefined;
  if (json !== undefined) return rewriteJson(file.text, json, objects);
  const edits: TextEdit[] = [];
  for (const { doc, tree } of objects) {
    edits.push(...planYamlEdits(file.text, doc.yaml, doc.basePath, tree));
  }
  return applyTextEdits(file.text, edits);
}

function isJsonFile(file: ManifestFile): boolean {
  return path.extname(file.file).toLowerCase() === ".json";
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not strict JSON (comments, several documents): it is edited as the YAML it also is.
    return undefined;
  }
}

/** JSON files are written whole, with the original indentation, line endings and final newline. */
function rewriteJson(text: string, root: unknown, objects: readonly FixedObject[]): string {
  for (const { doc, tree } of objects) {
    let target: unknown = root;
    for (const segment of doc.basePath) {
      target = Array.isArray(target)
        ? target[Number(segment)]
        : isJsonMap(target)
          ? target[String(segment)]
          : undefined;
    }
    if (!isJsonMap(target)) throw new FixError("the object is not a JSON object");
    applyTreeToJson(target, tree);
  }
  const indent = /\n([ \t]+)\S/.exec(text)?.[1];
  let out = indent === undefined ? JSON.stringify(root) : JSON.stringify(root, null, indent);
  if (/\r?\n$/.test(text)) out += "\n";
  return text.includes("\r\n") ? out.replace(/\n/g, "\r\n") : out;
}

/** The new text must read back as the fixed objects, and every other object as it was. */
function verifyRewrite(file: ManifestFile, after: string, objects: readonly FixedObject[]): void {
  const reread = parseManifestText(
    after,
    { file: file.file, absolutePath: file.absolutePath },
    "default",
  );
  if (reread.hasErrors) throw new FixError("the result would not parse");
  const before = file.parsed.documents;
  if (reread.documents.length !== before.length)
    throw new FixError("the result would have other objects");
  const fixedByDoc = new Map(objects.map((o) => [o.doc, o.fixed]));
  before.forEach((doc, i) => {
    const expected = fixedByDoc.has(doc) ? fixedByDoc.get(doc) : doc.object;
    if (!isDeepStrictEqual(reread.documents[i]?.object, expected)) {
      throw new FixError(`${doc.kind} ${doc.name ?? ""} would not read back as fixed`);
    }
  });
}
