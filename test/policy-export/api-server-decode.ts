/**
 * What the API server hands admission for a JSON Service body: it decodes into the typed
 * core/v1 Service first (sigs.k8s.io/json, like encoding/json) and admission sees that object
 * encoded again. So:
 * - a body it cannot decode (a selector that is a list, a label value that is a number) is
 *   rejected before any admission plugin runs: `null` here;
 * - `null` for a map or list is no map or list; `null` inside map[string]string is "";
 * - `omitempty` drops empty strings, maps and lists (type, externalTrafficPolicy, labels,
 *   selector, externalIPs, name, namespace, generateName).
 * Only the fields the three self-contained rules read are modelled; others pass through.
 */
import type { Json } from "./admission-policy-runtime.js";

const isMap = (value: unknown): value is Record<string, Json> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const REJECT = Symbol("reject");
type Decoded<T> = T | undefined | typeof REJECT;

function stringField(value: unknown): Decoded<string> {
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : REJECT;
}

function stringMap(value: unknown): Decoded<Record<string, string>> {
  if (value === undefined || value === null) return undefined;
  if (!isMap(value)) return REJECT;
  const out: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (entry !== null && typeof entry !== "string") return REJECT;
    Object.defineProperty(out, key, {
      value: entry ?? "",
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function stringList(value: unknown): Decoded<string[]> {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return REJECT;
  if (value.some((entry) => entry !== null && typeof entry !== "string")) return REJECT;
  return value.length === 0 ? undefined : value.map((entry) => (entry as string | null) ?? "");
}

function assign(target: Map<string, Json>, key: string, value: Json | undefined): void {
  if (value === undefined) target.delete(key);
  else target.set(key, value);
}

/** The Service as admission sees it, or null when the API server rejects the body. */
export function asDecoded(raw: unknown): Json | null {
  if (!isMap(raw)) return null;
  const metadataIn = raw["metadata"] ?? {};
  const specIn = raw["spec"] ?? {};
  if (!isMap(metadataIn) || !isMap(specIn)) return null;
  const metadata = new Map(Object.entries(metadataIn));
  const spec = new Map(Object.entries(specIn));
  const fields: [Map<string, Json>, string, Decoded<Json>][] = [
    [metadata, "name", stringField(metadataIn["name"])],
    [metadata, "namespace", stringField(metadataIn["namespace"])],
    [metadata, "generateName", stringField(metadataIn["generateName"])],
    [metadata, "labels", stringMap(metadataIn["labels"])],
    [spec, "type", stringField(specIn["type"])],
    [spec, "externalTrafficPolicy", stringField(specIn["externalTrafficPolicy"])],
    [spec, "selector", stringMap(specIn["selector"])],
    [spec, "externalIPs", stringList(specIn["externalIPs"])],
  ];
  for (const [target, key, value] of fields) {
    if (value === REJECT) return null;
    assign(target, key, value);
  }
  return { ...raw, metadata: Object.fromEntries(metadata), spec: Object.fromEntries(spec) };
}
