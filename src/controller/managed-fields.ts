/**
 * How a Service the controller created becomes one it owns by server-side apply (pure, no I/O).
 *
 * The controller creates with a plain POST (`?fieldManager=stsguard-controller`): a create that
 * finds a Service of that name fails (409 AlreadyExists) instead of merging into it, which a
 * server-side apply would do. The API server records such a create as an `Update` entry of the
 * manager, and an Update entry keeps its fields for good: a later apply that drops a port or a
 * label would leave it in place (a changed port ends up twice). So right after the create, the
 * entry is turned into an `Apply` entry of the same manager, as kubectl's csaupgrade does, with
 * the fields the applied configuration names: exactly what the API server's own apply of that
 * configuration would have recorded, so the next apply of the same configuration writes nothing.
 *
 * FieldsV1 spells a field `f:<name>`, a list item by its key `k:<JSON of the key fields>`, a set
 * member `v:<JSON>`, and `.` the item itself. An Update entry of a create also owns what defaulting
 * filled in (sessionAffinity, internalTrafficPolicy, ...) and `.` of every map; an apply owns
 * neither (observed on kube-apiserver 1.26; test/fixtures/apiserver-differences).
 */
import { isJsonMap, readString, type JsonMap } from "../policy/raw-object.js";
import { FIELD_MANAGER, type ApplyConfiguration } from "./desired-services.js";

type FieldsV1 = JsonMap;

/** The fields of `owned` that `configuration` sets; `item`: `owned` is a list item's node. */
export function appliedFieldsOf(owned: FieldsV1, configuration: unknown, item = false): FieldsV1 {
  const result: FieldsV1 = {};
  for (const [key, child] of Object.entries(owned)) {
    const node = isJsonMap(child) ? child : {};
    if (key === ".") {
      if (item) result[key] = {};
    } else if (key.startsWith("f:")) {
      const name = key.slice(2);
      if (isJsonMap(configuration) && name in configuration)
        result[key] = appliedFieldsOf(node, configuration[name]);
    } else if (key.startsWith("k:")) {
      const match = Array.isArray(configuration) ? findItem(configuration, key.slice(2)) : null;
      if (match !== null) result[key] = appliedFieldsOf(node, match, true);
    } else if (key.startsWith("v:")) {
      if (Array.isArray(configuration) && includesJson(configuration, key.slice(2)))
        result[key] = {};
    }
  }
  return result;
}

function findItem(items: readonly unknown[], keyJson: string): unknown {
  let key: unknown;
  try {
    key = JSON.parse(keyJson) as unknown;
  } catch {
    return null;
  }
  if (!isJsonMap(key)) return null;
  return (
    items.find(
      (entry) =>
        isJsonMap(entry) &&
        Object.entries(key).every(([field, value]) => sameJson(entry[field], value)),
    ) ?? null
  );
}

function includesJson(items: readonly unknown[], valueJson: string): boolean {
  try {
    const value = JSON.parse(valueJson) as unknown;
    return items.some((entry) => sameJson(entry, value));
  } catch {
    return false;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The manager's entries of `operation`. */
function entriesOf(managedFields: unknown, operation: "Apply" | "Update"): JsonMap[] {
  return Array.isArray(managedFields)
    ? (managedFields as unknown[]).filter(
        (entry): entry is JsonMap =>
          isJsonMap(entry) &&
          readString(entry, "manager") === FIELD_MANAGER &&
          readString(entry, "operation") === operation,
      )
    : [];
}

/** The controller's manager has an Update entry on this object (its create, not yet converted). */
export function hasUpdateEntry(managedFields: unknown): boolean {
  return entriesOf(managedFields, "Update").length > 0;
}

/**
 * `managedFields` with the controller's Update entries folded into one Apply entry (merged with
 * an Apply entry already there). With `configuration`, only the fields it sets are kept: right
 * after the create, where the entry holds nothing else of the controller's. Without it, every
 * field is kept (an entry left from an earlier create whose configuration may have changed since:
 * the next apply then removes what it no longer sets).
 */
export function convertToApply(
  managedFields: unknown,
  configuration: ApplyConfiguration | null,
): JsonMap[] | null {
  if (!Array.isArray(managedFields)) return null;
  const updates = entriesOf(managedFields, "Update");
  if (updates.length === 0) return null;
  const [existingApply] = entriesOf(managedFields, "Apply");
  let fields: FieldsV1 = isJsonMap(existingApply?.["fieldsV1"]) ? existingApply["fieldsV1"] : {};
  for (const update of updates) {
    const owned = isJsonMap(update["fieldsV1"]) ? update["fieldsV1"] : {};
    fields = unionFields(
      fields,
      configuration === null ? owned : appliedFieldsOf(owned, configuration),
    );
  }
  const template = existingApply ?? updates[0] ?? {};
  const converted: JsonMap = { ...template, operation: "Apply", fieldsV1: fields };
  const result: JsonMap[] = [];
  let placed = false;
  for (const entry of managedFields as unknown[]) {
    if (!isJsonMap(entry)) continue;
    const ours =
      readString(entry, "manager") === FIELD_MANAGER &&
      (readString(entry, "operation") === "Update" || readString(entry, "operation") === "Apply");
    if (!ours) result.push(entry);
    else if (!placed) {
      result.push(converted);
      placed = true;
    }
  }
  return result;
}

function unionFields(a: FieldsV1, b: FieldsV1): FieldsV1 {
  const result: FieldsV1 = { ...a };
  for (const [key, child] of Object.entries(b)) {
    const mine = result[key];
    result[key] =
      isJsonMap(mine) && isJsonMap(child)
        ? unionFields(mine, child)
        : isJsonMap(child)
          ? child
          : {};
  }
  return result;
}
