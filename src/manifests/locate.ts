import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Document,
  type LineCounter,
  type Node,
  type Pair,
  type YAMLMap,
} from "yaml";
import type { FieldPath, PositionAnchor, SourcePosition } from "./types.js";

/** The node a field path leads to in a YAML document, with the key node that names it. */
interface FoundField {
  readonly key: Node | null;
  readonly value: Node | null;
}

const MERGE_KEY = "<<";

/**
 * Position of the deepest field on `path` that exists in `doc`. Walks the YAML nodes, so
 * aliases and `<<` merge keys resolve to where the text is, as an editor would show it.
 */
export function locateField(
  doc: Document.Parsed,
  lineCounter: LineCounter,
  path: FieldPath,
  anchor: PositionAnchor,
): SourcePosition {
  let found: FoundField = { key: null, value: doc.contents };
  for (const segment of path) {
    const next = findChild(doc, found.value, segment);
    if (!next) break;
    found = next;
  }
  const node = pickNode(found, anchor);
  const offset = node?.range?.[0] ?? doc.range[0];
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function pickNode(found: FoundField, anchor: PositionAnchor): Node | null {
  const valueIsEmpty =
    !found.value || (isScalar(found.value) && found.value.value === null && !found.value.source);
  if (anchor === "value" && !valueIsEmpty) return found.value;
  return found.key ?? found.value;
}

function findChild(
  doc: Document.Parsed,
  parent: Node | null,
  segment: string | number,
): FoundField | null {
  const node = resolveAlias(doc, parent);
  if (isSeq(node) && typeof segment === "number") {
    const item = node.items[segment];
    return isNodeLike(item) ? { key: null, value: resolveAlias(doc, item) ?? item } : null;
  }
  if (isMap(node)) return findInMap(doc, node, String(segment), 0);
  return null;
}

function findInMap(
  doc: Document.Parsed,
  map: YAMLMap,
  key: string,
  depth: number,
): FoundField | null {
  for (const pair of map.items) {
    if (readKeyText(pair) === key) {
      return { key: toNode(pair.key), value: resolveAlias(doc, toNode(pair.value)) };
    }
  }
  // A key that only arrives through `<<: *anchor` sits in the anchored map.
  if (depth > 8) return null;
  for (const pair of map.items) {
    if (readKeyText(pair) !== MERGE_KEY) continue;
    const sources = resolveAlias(doc, toNode(pair.value));
    const maps = isSeq(sources)
      ? sources.items.map((s) => resolveAlias(doc, toNode(s)))
      : [sources];
    for (const source of maps) {
      if (!isMap(source)) continue;
      const found = findInMap(doc, source, key, depth + 1);
      if (found) return found;
    }
  }
  return null;
}

function readKeyText(pair: Pair): string | undefined {
  const key = pair.key;
  // With `merge: true` the yaml package turns a `<<` key's value into a symbol.
  if (isScalar(key)) return typeof key.value === "symbol" ? MERGE_KEY : String(key.value);
  return typeof key === "string" ? key : undefined;
}

function resolveAlias(doc: Document.Parsed, node: Node | null): Node | null {
  if (isAlias(node)) {
    const target = node.resolve(doc);
    return target ?? node;
  }
  return node;
}

function isNodeLike(value: unknown): value is Node {
  return typeof value === "object" && value !== null && "range" in value;
}

function toNode(value: unknown): Node | null {
  return isNodeLike(value) ? value : null;
}
