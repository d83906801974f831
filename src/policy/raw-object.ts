/**
 * Defensive readers for raw Kubernetes JSON. Admission requests and manifests are untrusted:
 * a selector may be a list, labels may be null. These never throw.
 */

export type JsonMap = Record<string, unknown>;

export function isJsonMap(value: unknown): value is JsonMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function readMap(value: unknown, key: string): JsonMap | undefined {
  if (!isJsonMap(value)) return undefined;
  const child = value[key];
  return isJsonMap(child) ? child : undefined;
}

export function readString(value: unknown, key: string): string | undefined {
  if (!isJsonMap(value)) return undefined;
  const child = value[key];
  return typeof child === "string" ? child : undefined;
}

/** A map's string-valued entries; anything else (null, a list, numbers) reads as no labels. */
export function readStringMap(value: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (!isJsonMap(value)) return result;
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === "string") result[key] = entry;
  }
  return result;
}

/** A non-negative integer field, or the fallback when absent or not one (the API server's default). */
export function readCount(value: unknown, key: string, fallback: number): number {
  if (!isJsonMap(value)) return fallback;
  const child = value[key];
  return typeof child === "number" && Number.isInteger(child) && child >= 0 ? child : fallback;
}

export function hasOwn(map: JsonMap, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(map, key);
}
