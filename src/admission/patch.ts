import jsonPatch from "fast-json-patch";
import type { PatchOperation } from "./types.js";

/**
 * The JSON Patch that turns `original` into `fixed`. Computed by fast-json-patch, so label keys
 * with `/` come out as `~1` and a missing `metadata.labels` is added as a whole map: both are
 * patches the API server would otherwise reject with a 500 (apiserver-behavior.md 3b, 3c).
 */
export function diffPatch(original: unknown, fixed: unknown): PatchOperation[] {
  if (original === fixed || !isPatchable(original) || !isPatchable(fixed)) return [];
  return jsonPatch.compare(original, fixed);
}

/** `response.patch`: the standard base64 of the JSON array, as Go's []byte is encoded. */
export function encodePatch(operations: readonly PatchOperation[]): string {
  return Buffer.from(JSON.stringify(operations), "utf8").toString("base64");
}

function isPatchable(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}
