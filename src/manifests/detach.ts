import { LineCounter, parseAllDocuments, type Document } from "yaml";
import { isJsonMap, readMap } from "../policy/raw-object.js";
import { locateField } from "./locate.js";
import { MANIFEST_YAML_OPTIONS } from "./parse.js";
import type {
  FieldPath,
  ManifestDocument,
  ManifestObject,
  PositionAnchor,
  SourcePosition,
} from "./types.js";

/**
 * The fields a finding, a duplicate or a checked object can point at (see `Finding.path` in
 * src/policy and `locateFinding` in src/cli/check-manifests.ts), plus every key of
 * `spec.selector`. Their positions are taken while the YAML tree exists; any other path is
 * placed by parsing the file's text again.
 */
const OBJECT_FIELDS: readonly (readonly [FieldPath, PositionAnchor])[] = [
  [["metadata", "name"], "value"],
  [["metadata"], "key"],
  [["metadata", "labels"], "key"],
];
const EVALUATED_FIELDS: readonly (readonly [FieldPath, PositionAnchor])[] = [
  ...OBJECT_FIELDS,
  [["apiVersion"], "key"],
  [["spec"], "key"],
  [["spec", "type"], "key"],
  [["spec", "externalIPs"], "key"],
  [["spec", "externalTrafficPolicy"], "key"],
  [["spec", "replicas"], "key"],
  [["spec", "serviceName"], "key"],
];
/** Only these kinds are evaluated by the policy; other objects only need their name placed. */
const EVALUATED_KINDS = new Set(["Service", "StatefulSet"]);

/** The last file parsed again to place an unusual path: findings come file by file. */
interface ReparseCache {
  text: string | undefined;
  lineCounter: LineCounter;
  documents: Document.Parsed[];
}

/**
 * An object without its YAML tree (the tree and its positions take several times the memory
 * of the plain object). It keeps its plain JSON value, the positions of the fields findings
 * point at, and its file's text (`text`) to place anything else.
 */
export function detachFromTree(
  doc: ManifestDocument,
  text: string,
  cache: ReparseCache = newReparseCache(),
): ManifestObject {
  return new DetachedObject(doc, text, cache);
}

/** Keys of the fields in `EVALUATED_FIELDS` order; built once, shared by every object. */
const FIELD_KEYS = EVALUATED_FIELDS.map(([path, anchor]) => positionKey(path, anchor));

/** An object whose positions are numbers: `[line, column, line, column, ...]`, compact. */
class DetachedObject implements ManifestObject {
  readonly file: string;
  readonly absolutePath: string | undefined;
  readonly index: number;
  readonly itemIndex: number | undefined;
  readonly object: unknown;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string | undefined;
  readonly namespace: string;
  readonly #basePath: FieldPath;
  readonly #text: string;
  readonly #cache: ReparseCache;
  /** Line and column of each `EVALUATED_FIELDS` entry taken (the first few for other kinds). */
  readonly #positions: number[] = [];
  /** `spec.selector` keys with the line and column of their values: `[key, line, column, ...]`. */
  readonly #selector: (string | number)[] = [];

  constructor(doc: ManifestDocument, text: string, cache: ReparseCache) {
    this.file = doc.file;
    this.absolutePath = doc.absolutePath;
    this.index = doc.index;
    this.itemIndex = doc.itemIndex;
    this.object = compactCopy(doc.object);
    this.apiVersion = doc.apiVersion;
    this.kind = doc.kind;
    this.name = doc.name;
    this.namespace = doc.namespace;
    this.#basePath = doc.basePath;
    this.#text = text;
    this.#cache = cache;
    const evaluated = EVALUATED_KINDS.has(doc.kind);
    for (const [path, anchor] of evaluated ? EVALUATED_FIELDS : OBJECT_FIELDS) {
      const { line, column } = doc.locate(path, anchor);
      this.#positions.push(line, column);
    }
    const selector = readMap(readMap(doc.object, "spec"), "selector");
    if (evaluated && isJsonMap(selector)) {
      for (const key of Object.keys(selector)) {
        const { line, column } = doc.locate(["spec", "selector", key], "value");
        this.#selector.push(key, line, column);
      }
    }
  }

  locate(path: FieldPath, anchor: PositionAnchor = "key"): SourcePosition {
    const slot = FIELD_KEYS.indexOf(positionKey(path, anchor));
    if (slot >= 0 && 2 * slot < this.#positions.length) {
      return {
        line: this.#positions[2 * slot] as number,
        column: this.#positions[2 * slot + 1] as number,
      };
    }
    if (path.length === 3 && path[0] === "spec" && path[1] === "selector" && anchor === "value") {
      for (let i = 0; i < this.#selector.length; i += 3) {
        if (this.#selector[i] === String(path[2])) {
          return { line: this.#selector[i + 1] as number, column: this.#selector[i + 2] as number };
        }
      }
    }
    return locateAgain(this.#cache, this.#text, this.index, [...this.#basePath, ...path], anchor);
  }
}

/** One cache for all the files of a read, so at most one file's tree is kept for placing. */
export function newReparseCache(): ReparseCache {
  return { text: undefined, lineCounter: new LineCounter(), documents: [] };
}

function locateAgain(
  cache: ReparseCache,
  text: string,
  index: number,
  path: FieldPath,
  anchor: PositionAnchor,
): SourcePosition {
  if (cache.text !== text) {
    const lineCounter = new LineCounter();
    const parsed = parseAllDocuments(text, { ...MANIFEST_YAML_OPTIONS, lineCounter });
    cache.documents = Array.isArray(parsed) ? [...parsed] : [];
    cache.lineCounter = lineCounter;
    cache.text = text;
  }
  const doc = cache.documents[index];
  // The text parsed before, so the document is there; the guard keeps a bad index harmless.
  if (!doc) return { line: 1, column: 1 };
  return locateField(doc, cache.lineCounter, path, anchor);
}

/**
 * The same value in less memory: yaml's `toJS` strings are slices and copies of the source
 * (each repeated value its own string), which makes 10,000 objects take ~2.5x what a JSON
 * parse of them takes. A JSON round trip gives the compact form, and is exact for plain JSON
 * values: anything else (non-finite numbers, -0, values shared through YAML aliases, cycles)
 * is kept as `toJS` gave it.
 */
export function compactCopy(value: unknown): unknown {
  return isPlainJson(value, new Set()) ? JSON.parse(JSON.stringify(value)) : value;
}

function isPlainJson(value: unknown, seen: Set<object>): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      // Seen twice: shared through an alias, or a cycle; a round trip would copy or fail.
      if (seen.has(value)) return false;
      seen.add(value);
      if (Array.isArray(value)) return value.every((item) => isPlainJson(item, seen));
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      // A `__proto__` key stays an own property: JSON.parse defines it, as toJS does.
      return Object.values(value).every((item) => isPlainJson(item, seen));
    }
    case "bigint":
    case "function":
    case "symbol":
    case "undefined":
      return false;
  }
}

function positionKey(path: FieldPath, anchor: PositionAnchor): string {
  return `${anchor}:${path.map((s) => (typeof s === "number" ? `#${s}` : `.${s}`)).join("")}`;
}
