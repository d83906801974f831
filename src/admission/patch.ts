import type { PatchOperation } from "./types.js";

/**
 * The JSON Patch that turns `original` into `fixed`: the operations fast-json-patch's `compare`
 * gives, in its order, so label keys with `/` come out as `~1` and a missing `metadata.labels` is
 * added as a whole map (both patches the API server would otherwise reject with a 500,
 * apiserver-behavior.md 3b, 3c). Written here because `compare` walked into every nested value
 * the fixed object shares with the original, building its path first, and deep-copied every
 * added value through JSON: ~22,000 instructions for a per-pod Service's patch, where this takes
 * a few thousand. `fixed` shares unchanged subtrees with `original` (the engine copies only
 * what it changes) and the operations may share values with `fixed`: they are serialized, never
 * changed.
 */
export function diffPatch(original: unknown, fixed: unknown): PatchOperation[] {
  if (original === fixed || !isContainer(original) || !isContainer(fixed)) return [];
  const operations: PatchOperation[] = [];
  generate(original, fixed, operations, "");
  return operations;
}

/** `response.patch`: the standard base64 of the JSON array, as Go's []byte is encoded. */
export function encodePatch(operations: readonly PatchOperation[]): string {
  return Buffer.from(JSON.stringify(operations), "utf8").toString("base64");
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === "object" && value !== null;
}

function keysOf(container: Container): string[] {
  return Array.isArray(container)
    ? Array.from({ length: container.length }, (_, i) => String(i))
    : Object.keys(container);
}

function read(container: Container, key: string): unknown {
  return (container as Record<string, unknown>)[key];
}

function has(container: Container, key: string): boolean {
  return Object.hasOwn(container, key);
}

/** A JSON Pointer reference token: `~` as `~0`, `/` as `~1`. */
function escapeKey(key: string): string {
  if (!key.includes("/") && !key.includes("~")) return key;
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** fast-json-patch's `_generate`, without `test` operations, deep copies or shared subtrees. */
function generate(
  mirror: Container,
  object: Container,
  operations: PatchOperation[],
  path: string,
): void {
  const newKeys = keysOf(object);
  const oldKeys = keysOf(mirror);
  let deleted = false;
  for (let t = oldKeys.length - 1; t >= 0; t -= 1) {
    const key = oldKeys[t] as string;
    const oldValue = read(mirror, key);
    if (
      has(object, key) &&
      !(read(object, key) === undefined && oldValue !== undefined && !Array.isArray(object))
    ) {
      const newValue = read(object, key);
      if (newValue === oldValue) continue;
      if (
        isContainer(oldValue) &&
        isContainer(newValue) &&
        Array.isArray(oldValue) === Array.isArray(newValue)
      ) {
        generate(oldValue, newValue, operations, `${path}/${escapeKey(key)}`);
      } else {
        operations.push({ op: "replace", path: `${path}/${escapeKey(key)}`, value: newValue });
      }
    } else if (Array.isArray(mirror) === Array.isArray(object)) {
      operations.push({ op: "remove", path: `${path}/${escapeKey(key)}` });
      deleted = true;
    } else {
      operations.push({ op: "replace", path, value: object });
    }
  }
  if (!deleted && newKeys.length === oldKeys.length) return;
  for (const key of newKeys) {
    const value = read(object, key);
    if (!has(mirror, key) && value !== undefined) {
      operations.push({ op: "add", path: `${path}/${escapeKey(key)}`, value });
    }
  }
}
