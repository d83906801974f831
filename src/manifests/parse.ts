import {
  Composer,
  LineCounter,
  parseAllDocuments,
  Parser,
  type Document,
  type YAMLError,
} from "yaml";
import { isJsonMap, readMap, readString } from "../policy/raw-object.js";
import { locateField } from "./locate.js";
import type { FieldPath, InputProblem, ManifestDocument, PositionAnchor } from "./types.js";

/** Which file a text came from. */
export interface ManifestSource {
  /** As shown to users. */
  readonly file: string;
  readonly absolutePath: string | undefined;
}

export interface ParsedManifests {
  readonly documents: ManifestDocument[];
  readonly problems: InputProblem[];
  /** Every YAML document of the text, in order, including empty and skipped ones. */
  readonly yamlDocuments: Document.Parsed[];
  /** True when some document has a syntax error: such a file must not be rewritten. */
  readonly hasErrors: boolean;
}

/**
 * YAML options for manifests. `merge` honours `<<: *anchor` as kubectl (go-yaml) does;
 * `keepSourceTokens` is not needed, node ranges are enough for positions.
 */
export const MANIFEST_YAML_OPTIONS = { merge: true, prettyErrors: true } as const;

/**
 * Parses one manifest text: multi-document YAML or JSON (a JSON text is a YAML document),
 * with `kind: List` expanded into its items. Never throws: syntax errors become problems
 * with a position, and the documents without errors are still returned.
 */
export function parseManifestText(
  text: string,
  source: ManifestSource,
  defaultNamespace: string,
): ParsedManifests {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { ...MANIFEST_YAML_OPTIONS, lineCounter });
  const yamlDocuments: Document.Parsed[] = Array.isArray(parsed) ? [...parsed] : [];
  const documents: ManifestDocument[] = [];
  const problems: InputProblem[] = [];
  let hasErrors = false;
  yamlDocuments.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      hasErrors = true;
      problems.push(...doc.errors.map((e) => toProblem(source.file, e)));
      return;
    }
    problems.push(
      ...doc.warnings.map((w) => ({ ...toProblem(source.file, w), severity: "warning" as const })),
    );
    const context: DocumentContext = { source, doc, index, lineCounter, defaultNamespace };
    readDocument(context, documents, problems);
  });
  return { documents, problems, yamlDocuments, hasErrors };
}

/**
 * As `parseManifestText`, but composes one YAML document at a time and hands its objects to
 * `visit` before composing the next: no document outlives its turn, so a caller that keeps
 * only what it needs from each (a summary, a plain object) never holds a file's whole tree.
 * Returns the problems, as `parseManifestText` would.
 */
export function forEachManifestDocument(
  text: string,
  source: ManifestSource,
  defaultNamespace: string,
  visit: (document: ManifestDocument) => void,
): InputProblem[] {
  const lineCounter = new LineCounter();
  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer(MANIFEST_YAML_OPTIONS);
  const problems: InputProblem[] = [];
  let index = 0;
  for (const doc of composer.compose(parser.parse(text)) as Iterable<Document.Parsed>) {
    // As parseAllDocuments does with prettyErrors: where each error is, in lines and columns.
    for (const error of [...doc.errors, ...doc.warnings]) {
      if (error.pos[0] !== -1) error.linePos ??= [lineCounter.linePos(error.pos[0])];
    }
    if (doc.errors.length > 0) {
      problems.push(...doc.errors.map((e) => toProblem(source.file, e)));
    } else {
      problems.push(
        ...doc.warnings.map((w) => ({
          ...toProblem(source.file, w),
          severity: "warning" as const,
        })),
      );
      const documents: ManifestDocument[] = [];
      readDocument({ source, doc, index, lineCounter, defaultNamespace }, documents, problems);
      for (const document of documents) visit(document);
    }
    index += 1;
  }
  return problems;
}

interface DocumentContext {
  readonly source: ManifestSource;
  readonly doc: Document.Parsed;
  readonly index: number;
  readonly lineCounter: LineCounter;
  readonly defaultNamespace: string;
}

function readDocument(
  context: DocumentContext,
  documents: ManifestDocument[],
  problems: InputProblem[],
): void {
  const { doc, source, index } = context;
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (error: unknown) {
    // e.g. too many alias expansions (a "billion laughs" document).
    problems.push({
      file: source.file,
      ...positionOf(context, []),
      severity: "error",
      message: `document ${index + 1}: ${(error as Error).message}`,
    });
    return;
  }
  if (value === null || value === undefined) return;
  if (!isJsonMap(value)) {
    problems.push({
      file: source.file,
      ...positionOf(context, []),
      severity: "warning",
      message: `document ${index + 1} is ${Array.isArray(value) ? "a list" : "a scalar"}, not a Kubernetes object; skipped`,
    });
    return;
  }
  const items = value["items"];
  if (isListKind(value) && Array.isArray(items)) {
    items.forEach((item: unknown, itemIndex) => {
      const basePath = ["items", itemIndex];
      if (!isJsonMap(item)) {
        problems.push({
          file: source.file,
          ...positionOf(context, basePath),
          severity: "warning",
          message: `document ${index + 1}, items[${itemIndex}] is not a Kubernetes object; skipped`,
        });
        return;
      }
      const object = toManifestDocument(context, item, basePath, itemIndex);
      if (object) documents.push(object);
    });
    return;
  }
  const object = toManifestDocument(context, value, [], undefined);
  if (object) documents.push(object);
}

/** `kind: List` (kubectl get -o yaml) and typed lists such as `ServiceList`. */
function isListKind(value: Record<string, unknown>): boolean {
  const kind = readString(value, "kind");
  return (
    kind !== undefined && kind.endsWith("List") && readString(value, "apiVersion") !== undefined
  );
}

/** Null for a mapping that is not a Kubernetes object (no apiVersion or kind): skipped silently. */
function toManifestDocument(
  context: DocumentContext,
  object: Record<string, unknown>,
  basePath: FieldPath,
  itemIndex: number | undefined,
): ManifestDocument | null {
  const apiVersion = readString(object, "apiVersion");
  const kind = readString(object, "kind");
  if (!apiVersion || !kind) return null;
  const metadata = readMap(object, "metadata");
  return {
    file: context.source.file,
    absolutePath: context.source.absolutePath,
    index: context.index,
    itemIndex,
    object,
    apiVersion,
    kind,
    name: readString(metadata, "name") || undefined,
    namespace: readString(metadata, "namespace") || context.defaultNamespace,
    yaml: context.doc,
    basePath,
    locate: (path: FieldPath, anchor: PositionAnchor = "key") =>
      locateField(context.doc, context.lineCounter, [...basePath, ...path], anchor),
  };
}

function positionOf(context: DocumentContext, path: FieldPath): { line: number; column: number } {
  return locateField(context.doc, context.lineCounter, path, "value");
}

/** yaml's pretty messages end in "at line L, column C:" and a code frame; we report those apart. */
function toProblem(file: string, error: YAMLError): InputProblem {
  const firstLine = error.message.split("\n")[0] ?? error.message;
  const message = firstLine.replace(/ at line \d+, column \d+:?$/, "");
  const position = error.linePos?.[0];
  return {
    file,
    ...(position ? { line: position.line, column: position.col } : {}),
    severity: "error",
    message: `${error.name === "YAMLWarning" ? "YAML" : "invalid YAML"}: ${message}`,
  };
}
