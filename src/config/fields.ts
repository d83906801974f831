/** Readers for configuration fields: each error names the field (`<file>: <path>`) at fault. */
import { ConfigError } from "../errors.js";
import { isJsonMap, type JsonMap } from "../policy/raw-object.js";

// DNS-1123 subdomain, as Kubernetes requires of a label key prefix.
export const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isLabelKey(key: string): boolean {
  const parts = key.split("/");
  const name = parts.pop() ?? "";
  if (parts.length > 1) return false;
  const prefix = parts[0];
  if (prefix !== undefined && (!LABEL_PREFIX.test(prefix) || prefix.length > 253)) return false;
  return LABEL_NAME.test(name) && name.length <= 63;
}

export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value) && value.length <= 63;
}

export function rejectUnknownKeys(map: JsonMap, known: readonly string[], where: string): void {
  for (const key of Object.keys(map)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${where}: ${key}: unknown setting (known: ${known.join(", ")})`);
    }
  }
}

export function optionalMap(value: unknown, where: string): JsonMap {
  if (value === undefined || value === null) return {};
  if (!isJsonMap(value)) throw new ConfigError(`${where}: must be a mapping`);
  return value;
}

export function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ConfigError(`${where}: must be a string`);
  return value;
}

export function optionalBoolean(value: unknown, fallback: boolean, where: string): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    throw new ConfigError(`${where}: must be true or false, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** A list of non-empty strings, or null when not given. An empty list is refused: it would match nothing. */
export function optionalStringList(value: unknown, where: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list of strings`);
  if (value.length === 0) {
    throw new ConfigError(`${where}: an empty list matches nothing; leave the key out instead`);
  }
  return value.map((entry: unknown, index) => {
    if (typeof entry !== "string" || entry === "") {
      throw new ConfigError(`${where}[${index}]: must be a non-empty string`);
    }
    return entry;
  });
}

export function oneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  fallback: T,
  where: string,
): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value))
    return value as T;
  throw new ConfigError(
    `${where}: must be one of ${allowed.join(", ")}, not ${JSON.stringify(value)}`,
  );
}
