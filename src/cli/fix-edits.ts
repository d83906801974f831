import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parse,
  Scalar,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from "yaml";
import { StsguardError } from "../errors.js";
import type { FieldPath } from "../manifests/types.js";
import { isJsonMap, readMap, type JsonMap } from "../policy/raw-object.js";

/** The fields a fix sets, as a tree: `{spec: {externalTrafficPolicy: "Local"}}`. */
export interface PatchTree {
  readonly [key: string]: string | PatchTree;
}

/** Replace `text.slice(start, end)` with `text`. */
export interface TextEdit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** The file cannot take a fix without rewriting more than the fields at fault. */
export class FixError extends StsguardError {
  constructor(message: string) {
    super("E_FIX", message);
  }
}

/**
 * What the mutating fix changed, and nothing else: `spec.externalTrafficPolicy` and the
 * labels under `metadata.labels` that are new or differ. Null when nothing changed.
 */
export function diffFixedFields(original: unknown, fixed: unknown): PatchTree | null {
  if (original === fixed) return null;
  const tree: Record<string, PatchTree> = {};
  const policy = readMap(fixed, "spec")?.["externalTrafficPolicy"];
  if (
    typeof policy === "string" &&
    readMap(original, "spec")?.["externalTrafficPolicy"] !== policy
  ) {
    tree["spec"] = { externalTrafficPolicy: policy };
  }
  const before = readMap(original, "metadata")?.["labels"];
  const after = readMap(fixed, "metadata")?.["labels"];
  const labels: Record<string, string> = {};
  if (isJsonMap(after)) {
    for (const [key, value] of Object.entries(after)) {
      if (typeof value === "string" && (!isJsonMap(before) || before[key] !== value)) {
        labels[key] = value;
      }
    }
  }
  if (Object.keys(labels).length > 0) tree["metadata"] = { labels };
  return Object.keys(tree).length > 0 ? tree : null;
}

/** Sets the tree's fields in a plain JSON value (for JSON files, which are rewritten whole). */
export function applyTreeToJson(target: JsonMap, tree: PatchTree): void {
  for (const [key, value] of Object.entries(tree)) {
    if (typeof value === "string") {
      target[key] = value;
      continue;
    }
    const child = target[key];
    if (child !== undefined && child !== null && !isJsonMap(child)) {
      throw new FixError(`${key} is not a mapping`);
    }
    const map = isJsonMap(child) ? child : {};
    target[key] = map;
    applyTreeToJson(map, value);
  }
}

interface EditContext {
  readonly text: string;
  readonly doc: Document.Parsed;
  readonly eol: string;
  readonly indentStep: number;
}

/**
 * Text edits that set the tree's fields in the YAML object at `basePath` of `doc`, touching
 * only those fields: existing scalars are replaced in their own quoting style, new keys are
 * appended to their map in its style (block lines at its indentation, or `, k: v` in a flow
 * map), and a map reached through an alias becomes `{<<: *alias, k: v}` so the anchored
 * original, which other objects share, stays as it is. Everything else keeps its bytes.
 */
export function planYamlEdits(
  text: string,
  doc: Document.Parsed,
  basePath: FieldPath,
  tree: PatchTree,
): TextEdit[] {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  let node: unknown = doc.contents;
  for (const segment of basePath) {
    node = resolveAlias(doc, node);
    node = isSeq(node)
      ? node.items[Number(segment)]
      : isMap(node)
        ? findPair(node, String(segment))?.value
        : null;
  }
  node = resolveAlias(doc, node);
  if (!isMap(node)) throw new FixError("the object is not a YAML mapping");
  const context: EditContext = { text, doc, eol, indentStep: detectIndentStep(text, node) };
  const edits: TextEdit[] = [];
  editMap(context, node, tree, edits);
  return edits;
}

/** Applies edits (which must not overlap) to a text. */
export function applyTextEdits(text: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start);
  let result = text;
  let limit = Infinity;
  for (const edit of sorted) {
    if (edit.end > limit) throw new FixError("overlapping edits");
    result = result.slice(0, edit.start) + edit.text + result.slice(edit.end);
    limit = edit.start;
  }
  return result;
}

function editMap(context: EditContext, map: YAMLMap, tree: PatchTree, edits: TextEdit[]): void {
  const missing: [string, string | PatchTree][] = [];
  for (const [key, value] of Object.entries(tree)) {
    const pair = findPair(map, key);
    if (!pair) {
      missing.push([key, value]);
    } else if (typeof value === "string") {
      edits.push(replaceValue(context, pair, value));
    } else {
      editChild(context, pair, key, value, edits);
    }
  }
  if (missing.length > 0) edits.push(insertIntoMap(context, map, missing));
}

function editChild(
  context: EditContext,
  pair: Pair,
  key: string,
  tree: PatchTree,
  edits: TextEdit[],
): void {
  const child = pair.value;
  if (isAlias(child) && isMap(child.resolve(context.doc)) && child.range) {
    const alias = context.text.slice(child.range[0], child.range[1]);
    const entries = Object.entries(tree).map(([k, v]) => renderFlowEntry(k, v));
    edits.push({
      start: child.range[0],
      end: child.range[1],
      text: `{<<: ${alias}, ${entries.join(", ")}}`,
    });
    return;
  }
  if (isMap(child)) {
    editMap(context, child, tree, edits);
    return;
  }
  if (child === null || (isScalar(child) && child.value === null)) {
    edits.push(setEmptyValue(context, pair, tree));
    return;
  }
  throw new FixError(`${key} is not a mapping`);
}

/** `labels:` with no value gets block lines below it; `labels: null` becomes a flow map. */
function setEmptyValue(context: EditContext, pair: Pair, tree: PatchTree): TextEdit {
  const value = pair.value;
  const source =
    isScalar(value) && value.range ? context.text.slice(value.range[0], value.range[1]) : "";
  if (isScalar(value) && value.range && source.trim() !== "") {
    const entries = Object.entries(tree).map(([k, v]) => renderFlowEntry(k, v));
    return { start: value.range[0], end: value.range[1], text: `{${entries.join(", ")}}` };
  }
  const keyNode = toNode(pair.key);
  if (!keyNode?.range) throw new FixError("cannot place a value after a key without a position");
  const at = findLineStartAfter(context.text, keyNode.range[1]);
  const column = readColumn(context.text, keyNode.range[0]);
  return {
    start: at.offset,
    end: at.offset,
    text: at.prefix + renderBlock(Object.entries(tree), column + context.indentStep, context),
  };
}

function replaceValue(context: EditContext, pair: Pair, value: string): TextEdit {
  const node = toNode(pair.value);
  if (node?.range && node.range[1] > node.range[0]) {
    const type = isScalar(node) ? node.type : undefined;
    return { start: node.range[0], end: node.range[1], text: renderScalar(value, type) };
  }
  // `key:` with nothing after the colon.
  const keyNode = toNode(pair.key);
  if (!keyNode?.range) throw new FixError("cannot place a value after a key without a position");
  const colon = context.text.indexOf(":", keyNode.range[1]);
  return { start: colon + 1, end: colon + 1, text: ` ${renderScalar(value)}` };
}

function insertIntoMap(
  context: EditContext,
  map: YAMLMap,
  entries: readonly [string, string | PatchTree][],
): TextEdit {
  const { text } = context;
  const last = map.items[map.items.length - 1];
  if (map.flow === true) {
    const rendered = entries.map(([k, v]) => renderFlowEntry(k, v)).join(", ");
    if (last) {
      const end = findPairEnd(last);
      return { start: end, end, text: `, ${rendered}` };
    }
    const close = text.lastIndexOf("}", (map.range?.[1] ?? 0) - 1);
    if (close < 0) throw new FixError("cannot find the end of a flow mapping");
    return { start: close, end: close, text: rendered };
  }
  const first = toNode(map.items[0]?.key);
  if (!last || !first?.range) throw new FixError("cannot add a key to an empty block mapping");
  const at = findLineStartAfter(text, findPairEnd(last));
  const column = readColumn(text, first.range[0]);
  return {
    start: at.offset,
    end: at.offset,
    text: at.prefix + renderBlock(entries, column, context),
  };
}

function renderBlock(
  entries: readonly [string, string | PatchTree][],
  column: number,
  context: EditContext,
): string {
  const pad = " ".repeat(column);
  return entries
    .map(([key, value]) =>
      typeof value === "string"
        ? `${pad}${renderScalar(key)}: ${renderScalar(value)}${context.eol}`
        : `${pad}${renderScalar(key)}:${context.eol}` +
          renderBlock(Object.entries(value), column + context.indentStep, context),
    )
    .join("");
}

function renderFlowEntry(key: string, value: string | PatchTree): string {
  const rendered =
    typeof value === "string"
      ? renderScalar(value)
      : `{${Object.entries(value)
          .map(([k, v]) => renderFlowEntry(k, v))
          .join(", ")}}`;
  return `${renderScalar(key)}: ${rendered}`;
}

// No flow indicators (`,[]{}`), so a plain scalar is safe in flow mappings too.
const SAFE_PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

/**
 * A string as YAML source that reads back as that same string: plain when that is safe (not
 * `0`, `true`, `null`, which would read as other types), else quoted in the style the
 * replaced scalar used, double quotes by default.
 */
function renderScalar(value: string, type?: Scalar.Type): string {
  if (type === Scalar.QUOTE_SINGLE) return `'${value.replace(/'/g, "''")}'`;
  if (type !== Scalar.QUOTE_DOUBLE && SAFE_PLAIN.test(value) && parse(value) === value) {
    return value;
  }
  // JSON strings are valid YAML double-quoted scalars, in block and flow context alike.
  return JSON.stringify(value);
}

/** Where to insert whole lines after `offset`: the start of the next line. */
function findLineStartAfter(text: string, offset: number): { offset: number; prefix: string } {
  if (offset > 0 && text[offset - 1] === "\n") return { offset, prefix: "" };
  const newline = text.indexOf("\n", offset);
  if (newline >= 0) return { offset: newline + 1, prefix: "" };
  return { offset: text.length, prefix: text.includes("\r\n") ? "\r\n" : "\n" };
}

function readColumn(text: string, offset: number): number {
  return offset - (text.lastIndexOf("\n", offset - 1) + 1);
}

/** The document's indentation step, from the first nested block mapping in the object. */
function detectIndentStep(text: string, map: YAMLMap): number {
  for (const pair of map.items) {
    const key = toNode(pair.key);
    const value = pair.value;
    if (!key?.range || !isMap(value) || value.flow === true) continue;
    const child = toNode(value.items[0]?.key);
    if (!child?.range) continue;
    const step = readColumn(text, child.range[0]) - readColumn(text, key.range[0]);
    if (step > 0) return step;
  }
  return 2;
}

function findPairEnd(pair: Pair): number {
  const value = toNode(pair.value);
  const key = toNode(pair.key);
  return value?.range?.[1] ?? key?.range?.[1] ?? 0;
}

function findPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((pair) => {
    const k = pair.key;
    return isScalar(k) ? String(k.value) === key : k === key;
  });
}

function resolveAlias(doc: Document.Parsed, node: unknown): unknown {
  return isAlias(node) ? (node.resolve(doc) ?? node) : node;
}

function toNode(value: unknown): Node | null {
  return typeof value === "object" && value !== null && "range" in value ? (value as Node) : null;
}
