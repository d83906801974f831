/**
 * Server-side apply for the fake API server (test/helpers/fake-apiserver.ts), faithful where the
 * controller depends on it:
 * - `PATCH application/apply-patch+yaml?fieldManager=M[&force=true]` creates the object when
 *   absent, and otherwise sets the fields the applied configuration names;
 * - managedFields record, per (manager, operation), which fields each owns, in the real FieldsV1
 *   format, at the granularity of label and annotation keys, ownerReferences (by uid), each
 *   `spec` field, and each field of each port (ports are a map list keyed by port and protocol;
 *   `spec.selector` and other `spec` fields are atomic, as in the Service schema);
 * - a field the apply sets to another value than its current one, owned by another manager,
 *   is a conflict: 409 Conflict `Apply failed with 1 conflict: conflict with "kubectl-edit" using
 *   v1 at <time>: .spec.type` (the API server's wording), unless `force=true` takes it over;
 * - fields the manager applied before and no longer applies are removed, unless another manager
 *   owns them too;
 * - `metadata.uid` in an apply must match the stored object's (422 "field is immutable"), and
 *   an apply naming a uid creates nothing (409 "uid mismatch … no existing object was found");
 * - a POST with `?fieldManager` records an Update entry owning every field of the created object;
 * - a JSON patch applies (a failed `test` is 422 Invalid), and one that replaces managedFields
 *   records no manager of its own;
 * - merge patches (`kubectl patch`, `kubectl edit`) record an Update manager that takes over the
 *   fields it changed, as the API server does.
 * Not modelled: strategic-merge details, nested field ownership below the levels above.
 */
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { parse as parseYaml } from "yaml";
import { FakeStatus, mergePatch, type FakeApiServer, type PatchHandler } from "./fake-apiserver.js";

type JsonObject = Record<string, unknown>;

/** A field path as FieldsV1 spells its steps: `f:<field>` or `k:<key as JSON>`. */
type FieldPath = readonly string[];

interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonObject;
}

const { applyPatch: applyJsonPatch } = fastJsonPatch;

export const APPLY_PATCH = "application/apply-patch+yaml";

/** Makes `server` accept server-side apply, and record field managers of merge patches. */
export function installServerSideApply(
  server: FakeApiServer,
  now: () => Date = () => new Date(),
): void {
  server.handlePatch(APPLY_PATCH, createApplyPatchHandler(now));
  server.handlePatch("application/json-patch+json", (current, body, context) =>
    jsonPatch(current, body, context.name),
  );
  server.transformCreates((object, query) => {
    const manager = query["fieldManager"];
    if (!manager) return object;
    const entry: ManagedFieldsEntry = {
      manager,
      operation: "Update",
      apiVersion: stringOf(object["apiVersion"]) || "v1",
      time: toRfc3339(now()),
      fieldsType: "FieldsV1",
      fieldsV1: toFieldsV1([...fieldsOf(object).keys()].map(parsePath)),
    };
    return withManagedFields(object, [entry]);
  });
  server.handlePatch("application/merge-patch+json", (current, body, context) =>
    updateWithManager(current, mergePatch(current ?? {}, body), context.query, now),
  );
}

/** The apply handler alone, for a test that wraps it (e.g. to fail the first attempts). */
export function createApplyPatchHandler(now: () => Date = () => new Date()): PatchHandler {
  return (current, body, context) => applyPatch(current, body, context, now);
}

const applyPatch = (
  current: JsonObject | undefined,
  body: unknown,
  context: Parameters<PatchHandler>[2],
  now: () => Date,
): JsonObject => {
  const applied = typeof body === "string" ? (parseYaml(body) as unknown) : body;
  if (!isObject(applied))
    throw new FakeStatus(400, "BadRequest", "the apply body is not an object");
  const manager = context.query["fieldManager"];
  if (!manager) {
    throw new FakeStatus(
      422,
      "Invalid",
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  }
  const kind = stringOf(applied["kind"]) || "Object";
  const appliedMeta = isObject(applied["metadata"]) ? applied["metadata"] : {};
  const wantedUid = stringOf(appliedMeta["uid"]);
  const currentUid = stringOf(metadataOf(current)["uid"]);
  // kube-apiserver 1.26's answers (test/fixtures/apiserver-differences).
  if (!current && wantedUid !== "") {
    throw new FakeStatus(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${context.resource} "${context.name}": uid mismatch: the provided object specified uid ${wantedUid}, and no existing object was found`,
    );
  }
  if (current && wantedUid !== "" && wantedUid !== currentUid) {
    const cause = {
      reason: "FieldValueInvalid",
      message: `Invalid value: "${wantedUid}": field is immutable`,
      field: "metadata.uid",
    };
    throw new FakeStatus(
      422,
      "Invalid",
      `${kind} "${context.name}" is invalid: metadata.uid: Invalid value: "${wantedUid}": field is immutable`,
      [cause, cause],
    );
  }
  const force = context.query["force"] === "true";
  const appliedFields = fieldsOf(applied);
  const managers = readManagedFields(current);
  const currentFields = fieldsOf(current ?? {});
  const isSelf = (entry: ManagedFieldsEntry): boolean =>
    entry.manager === manager && entry.operation === "Apply";

  const conflicts: { manager: ManagedFieldsEntry; path: string }[] = [];
  for (const [key, value] of appliedFields) {
    if (!currentFields.has(key) || sameJson(currentFields.get(key), value)) continue;
    for (const entry of managers) {
      if (!isSelf(entry) && ownedPaths(entry).has(key))
        conflicts.push({ manager: entry, path: key });
    }
  }
  if (conflicts.length > 0 && !force) {
    throw new FakeStatus(
      409,
      "Conflict",
      conflictMessage(conflicts),
      conflicts.map(({ manager: entry, path }) => ({
        reason: "FieldManagerConflict",
        message: `conflict with ${printManager(entry)}`,
        field: printPath(parsePath(path)),
      })),
    );
  }

  const object: JsonObject = current
    ? structuredClone(current)
    : { apiVersion: applied["apiVersion"], kind: applied["kind"], metadata: {} };
  const self = managers.find(isSelf);
  const others = managers.filter((entry) => !isSelf(entry));
  const ownedByOthers = new Set(others.flatMap((entry) => [...ownedPaths(entry)]));
  for (const key of self ? ownedPaths(self) : []) {
    if (!appliedFields.has(key) && !ownedByOthers.has(key)) removeField(object, parsePath(key));
  }
  for (const [key, value] of appliedFields) setField(object, parsePath(key), value);

  const time = toRfc3339(now());
  const nextManagers = others.map((entry) => {
    if (!force) return entry;
    const kept = [...ownedPaths(entry)].filter((key) => !appliedFields.has(key));
    return { ...entry, fieldsV1: toFieldsV1(kept.map(parsePath)) };
  });
  nextManagers.push({
    manager,
    operation: "Apply",
    apiVersion: stringOf(applied["apiVersion"]) || "v1",
    time,
    fieldsType: "FieldsV1",
    fieldsV1: toFieldsV1([...appliedFields.keys()].map(parsePath)),
  });
  dropUnownedPorts(object, self ? ownedPaths(self) : new Set(), nextManagers);
  const result = withManagedFields(object, nextManagers.filter(hasFields));
  // A create gets a uid of its own (the fake assigns one), whatever the body said.
  if (!current) delete metadataOf(result)["uid"];
  return unchangedOr(current, result);
};

/** RFC 6902, as the API server applies it; managedFields replaced by hand are kept as given. */
function jsonPatch(current: JsonObject | undefined, body: unknown, name: string): JsonObject {
  if (!current) throw new FakeStatus(404, "NotFound", `services "${name}" not found`);
  if (!Array.isArray(body)) throw new FakeStatus(400, "BadRequest", "the patch is not a list");
  try {
    return applyJsonPatch(structuredClone(current), body as Operation[], true, false).newDocument;
  } catch {
    throw new FakeStatus(
      422,
      "Invalid",
      "the server rejected our request due to an error in our request",
    );
  }
}

/** A write by a manager with operation Update: it takes over every field it changed. */
function updateWithManager(
  current: JsonObject | undefined,
  updated: JsonObject,
  query: Readonly<Record<string, string>>,
  now: () => Date,
): JsonObject {
  const manager = query["fieldManager"] || "unknown";
  const before = fieldsOf(current ?? {});
  const after = fieldsOf(updated);
  const changed = [...after].filter(([key, value]) => !sameJson(before.get(key), value));
  const removed = [...before.keys()].filter((key) => !after.has(key));
  const taken = new Set([...changed.map(([key]) => key), ...removed]);
  const managers = readManagedFields(current).map((entry) => ({
    ...entry,
    fieldsV1: toFieldsV1([...ownedPaths(entry)].filter((key) => !taken.has(key)).map(parsePath)),
  }));
  if (changed.length > 0) {
    const self = managers.find((e) => e.manager === manager && e.operation === "Update");
    const owned = new Set([...(self ? ownedPaths(self) : []), ...changed.map(([key]) => key)]);
    const entry: ManagedFieldsEntry = {
      manager,
      operation: "Update",
      apiVersion: "v1",
      time: toRfc3339(now()),
      fieldsType: "FieldsV1",
      fieldsV1: toFieldsV1([...owned].map(parsePath)),
    };
    if (self) managers.splice(managers.indexOf(self), 1, entry);
    else managers.push(entry);
  }
  return unchangedOr(current, withManagedFields(updated, managers.filter(hasFields)));
}

/** The stored object itself when nothing but managedFields times would change: no write. */
function unchangedOr(current: JsonObject | undefined, result: JsonObject): JsonObject {
  if (!current) return result;
  const strip = (o: JsonObject): unknown => {
    const copy = structuredClone(o);
    const entries = metadataOf(copy)["managedFields"];
    if (Array.isArray(entries)) for (const e of entries as JsonObject[]) delete e["time"];
    return copy;
  };
  return sameJson(strip(current), strip(result)) ? current : result;
}

/** Every tracked field of an object: path (as JSON of its steps) → value. */
export function fieldsOf(object: JsonObject): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  const add = (path: FieldPath, value: unknown): void => {
    fields.set(JSON.stringify(path), value);
  };
  const metadata = metadataOf(object);
  for (const map of ["labels", "annotations"]) {
    const entries = metadata[map];
    if (!isObject(entries)) continue;
    for (const [key, value] of Object.entries(entries))
      add(["f:metadata", `f:${map}`, `f:${key}`], value);
  }
  const owners = metadata["ownerReferences"];
  if (Array.isArray(owners)) {
    for (const owner of owners as unknown[]) {
      if (!isObject(owner)) continue;
      add(["f:metadata", "f:ownerReferences", `k:${JSON.stringify({ uid: owner["uid"] })}`], owner);
    }
  }
  const spec = isObject(object["spec"]) ? object["spec"] : {};
  for (const [field, value] of Object.entries(spec)) {
    if (field !== "ports" || !Array.isArray(value)) {
      add(["f:spec", `f:${field}`], value);
      continue;
    }
    for (const port of value as unknown[]) {
      if (!isObject(port)) continue;
      const key = `k:${JSON.stringify(portKey(port))}`;
      for (const [name, item] of Object.entries(port))
        add(["f:spec", "f:ports", key, `f:${name}`], item);
    }
  }
  return fields;
}

function portKey(port: JsonObject): { port: unknown; protocol: unknown } {
  return { port: port["port"], protocol: port["protocol"] ?? "TCP" };
}

function parsePath(key: string): FieldPath {
  return JSON.parse(key) as FieldPath;
}

/** `.spec.ports[port=80,protocol="TCP"].name`, as the API server prints a field path. */
export function printPath(path: FieldPath): string {
  return path
    .map((step) => {
      if (step.startsWith("f:")) return `.${step.slice(2)}`;
      const key = JSON.parse(step.slice(2)) as JsonObject;
      const parts = Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
      return `[${parts.join(",")}]`;
    })
    .join("");
}

function conflictMessage(
  conflicts: readonly { manager: ManagedFieldsEntry; path: string }[],
): string {
  const first = conflicts[0];
  if (conflicts.length === 1 && first) {
    return `Apply failed with 1 conflict: conflict with ${printManager(first.manager)}: ${printPath(parsePath(first.path))}`;
  }
  const byManager = new Map<string, string[]>();
  for (const { manager, path } of conflicts) {
    const name = printManager(manager);
    byManager.set(name, [...(byManager.get(name) ?? []), printPath(parsePath(path))]);
  }
  const lines = [...byManager.keys()]
    .sort()
    .flatMap((name) => [
      `conflicts with ${name}:`,
      ...(byManager.get(name) ?? []).map((p) => `- ${p}`),
    ]);
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
}

/** As k8s.io/apiserver's fieldmanager prints a manager in a conflict. */
function printManager(entry: ManagedFieldsEntry): string {
  const name = JSON.stringify(entry.manager);
  return entry.operation === "Update" ? `${name} using ${entry.apiVersion}` : name;
}

function readManagedFields(object: JsonObject | undefined): ManagedFieldsEntry[] {
  const entries = metadataOf(object)["managedFields"];
  if (!Array.isArray(entries)) return [];
  return (entries as unknown[]).filter(isObject).map((entry) => ({
    manager: stringOf(entry["manager"]),
    operation: entry["operation"] === "Apply" ? "Apply" : "Update",
    apiVersion: stringOf(entry["apiVersion"]) || "v1",
    time: stringOf(entry["time"]),
    fieldsType: "FieldsV1",
    fieldsV1: isObject(entry["fieldsV1"]) ? entry["fieldsV1"] : {},
  }));
}

function withManagedFields(
  object: JsonObject,
  managers: readonly ManagedFieldsEntry[],
): JsonObject {
  const copy = structuredClone(object);
  const metadata = (copy["metadata"] ??= {}) as JsonObject;
  if (managers.length > 0) metadata["managedFields"] = structuredClone(managers);
  else delete metadata["managedFields"];
  return copy;
}

function hasFields(entry: ManagedFieldsEntry): boolean {
  return Object.keys(entry.fieldsV1).length > 0;
}

/** The leaf paths a FieldsV1 tree owns (`.` marks a list item, which its fields stand for here). */
function ownedPaths(entry: ManagedFieldsEntry): Set<string> {
  const paths = new Set<string>();
  const walk = (node: JsonObject, prefix: string[]): void => {
    const children = Object.keys(node).filter((key) => key !== ".");
    if (children.length === 0 && prefix.length > 0) paths.add(JSON.stringify(prefix));
    for (const key of children) {
      const child = node[key];
      walk(isObject(child) ? child : {}, [...prefix, key]);
    }
  };
  walk(entry.fieldsV1, []);
  return paths;
}

function toFieldsV1(paths: readonly FieldPath[]): JsonObject {
  const root: JsonObject = {};
  for (const path of paths) {
    let node = root;
    for (const step of path) {
      const child = (node[step] ??= {}) as JsonObject;
      if (step.startsWith("k:") && path[path.length - 1] !== step) child["."] = {};
      node = child;
    }
  }
  return root;
}

function setField(object: JsonObject, path: FieldPath, value: unknown): void {
  const [top, second, third, fourth] = path;
  if (top === "f:metadata") {
    const metadata = (object["metadata"] ??= {}) as JsonObject;
    if (second === "f:ownerReferences") {
      const list = (
        Array.isArray(metadata["ownerReferences"]) ? metadata["ownerReferences"] : []
      ) as JsonObject[];
      const uid = (value as JsonObject)["uid"];
      metadata["ownerReferences"] = [
        ...list.filter((o) => o["uid"] !== uid),
        structuredClone(value),
      ];
      return;
    }
    const map = (metadata[(second ?? "").slice(2)] ??= {}) as JsonObject;
    map[(third ?? "").slice(2)] = structuredClone(value);
    return;
  }
  const spec = (object["spec"] ??= {}) as JsonObject;
  if (second !== "f:ports" || !third || !fourth) {
    spec[(second ?? "").slice(2)] = structuredClone(value);
    return;
  }
  const ports = (Array.isArray(spec["ports"]) ? spec["ports"] : []) as JsonObject[];
  spec["ports"] = ports;
  const key = third.slice(2);
  let port = ports.find((p) => JSON.stringify(portKey(p)) === key);
  if (!port) {
    port = { ...(JSON.parse(key) as JsonObject) };
    ports.push(port);
  }
  port[fourth.slice(2)] = structuredClone(value);
}

function removeField(object: JsonObject, path: FieldPath): void {
  const [top, second, third, fourth] = path;
  const metadata = metadataOf(object);
  if (top === "f:metadata") {
    if (second === "f:ownerReferences") {
      const uid = (JSON.parse((third ?? "k:{}").slice(2)) as JsonObject)["uid"];
      const list = (
        Array.isArray(metadata["ownerReferences"]) ? metadata["ownerReferences"] : []
      ) as JsonObject[];
      const kept = list.filter((o) => o["uid"] !== uid);
      if (kept.length > 0) metadata["ownerReferences"] = kept;
      else delete metadata["ownerReferences"];
      return;
    }
    const mapName = (second ?? "").slice(2);
    const map = metadata[mapName];
    if (!isObject(map)) return;
    Reflect.deleteProperty(map, (third ?? "").slice(2));
    if (Object.keys(map).length === 0) Reflect.deleteProperty(metadata, mapName);
    return;
  }
  const spec = isObject(object["spec"]) ? object["spec"] : {};
  if (second !== "f:ports" || !third || !fourth) {
    Reflect.deleteProperty(spec, (second ?? "").slice(2));
    return;
  }
  // Key fields (port, protocol) stay until the whole item goes (dropUnownedPorts).
  if (fourth === "f:port" || fourth === "f:protocol") return;
  const port = ((spec["ports"] ?? []) as JsonObject[]).find(
    (p) => JSON.stringify(portKey(p)) === third.slice(2),
  );
  if (port) Reflect.deleteProperty(port, fourth.slice(2));
}

/** A port item the applier no longer applies, and no other manager owns a field of, goes. */
function dropUnownedPorts(
  object: JsonObject,
  previouslyOwned: ReadonlySet<string>,
  managers: readonly ManagedFieldsEntry[],
): void {
  const spec = isObject(object["spec"]) ? object["spec"] : null;
  if (!spec || !Array.isArray(spec["ports"])) return;
  const itemOf = (key: string): string => {
    const path = parsePath(key);
    return path[1] === "f:ports" ? (path[2] ?? "") : "";
  };
  const owned = new Set(managers.flatMap((entry) => [...ownedPaths(entry)].map(itemOf)));
  const released = new Set([...previouslyOwned].map(itemOf).filter((item) => !owned.has(item)));
  const kept = (spec["ports"] as JsonObject[]).filter(
    (p) => !released.has(`k:${JSON.stringify(portKey(p))}`),
  );
  if (kept.length > 0) spec["ports"] = kept;
  else delete spec["ports"];
}

function metadataOf(object: JsonObject | undefined): JsonObject {
  const metadata = object?.["metadata"];
  return isObject(metadata) ? metadata : {};
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** JSON with map keys sorted: the API server compares values, not key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

function toRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z");
}

function stringOf(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
