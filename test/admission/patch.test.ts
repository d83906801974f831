// diffPatch gives the operations fast-json-patch's compare gives, in the same order, for any
// pair of JSON objects: unrelated ones, and (as the engine makes them) a fixed copy that shares
// its unchanged subtrees with the original.
import fc from "fast-check";
import jsonPatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { diffPatch } from "../../src/admission/patch.js";
import { aService } from "../helpers/objects.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const keys = fc.constantFrom("a", "b", "c", "d/e", "f~g", "~1", "0", "labels", "spec");
const json: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom<Json>(null, true, false, 0, 1, "x", "y"),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(keys, tie("value"), { maxKeys: 4 }),
  ),
})).value;
const objectJson = fc.dictionary(keys, json, { maxKeys: 5 });

/** `value` with edits along random paths, copying only the containers on those paths. */
function edited(value: Json, edits: readonly { path: string[]; to: Json | undefined }[]): Json {
  let result = value;
  for (const { path, to } of edits) result = editAt(result, path, to);
  return result;
}

function editAt(value: Json, path: readonly string[], to: Json | undefined): Json {
  if (value === null || typeof value !== "object") return value;
  const [head, ...rest] = path;
  if (head === undefined) return value;
  if (Array.isArray(value)) {
    // A key that is no index leaves an array alone: JSON arrays have no other members.
    if (!/^\d+$/.test(head)) return value;
    const index = Number(head) % Math.max(1, value.length);
    const copy = [...value];
    if (rest.length === 0) {
      if (to === undefined) copy.splice(index, 1);
      else copy[index] = to;
    } else if (index < copy.length) copy[index] = editAt(copy[index] as Json, rest, to);
    return copy;
  }
  if (rest.length === 0) {
    return to === undefined
      ? Object.fromEntries(Object.entries(value).filter(([key]) => key !== head))
      : { ...value, [head]: to };
  }
  return head in value ? { ...value, [head]: editAt(value[head] as Json, rest, to) } : value;
}

const edits = fc.array(
  fc.record({
    path: fc.array(fc.oneof(keys, fc.constantFrom("0", "1")), { minLength: 1, maxLength: 3 }),
    to: fc.option(json, { nil: undefined }),
  }),
  { maxLength: 4 },
);

describe("diffPatch", () => {
  it("is fast-json-patch's compare for unrelated objects", () => {
    fc.assert(
      fc.property(objectJson, objectJson, (a, b) => {
        expect(diffPatch(a, b)).toEqual(jsonPatch.compare(a, b));
      }),
      { numRuns: 2_000 },
    );
  });

  it("is fast-json-patch's compare for a copy that shares what it did not change, and applies", () => {
    fc.assert(
      fc.property(objectJson, edits, (original, changes) => {
        const fixed = edited(original, changes);
        const patch = diffPatch(original, fixed);
        expect(patch).toEqual(jsonPatch.compare(original, fixed as object));
        const applied = jsonPatch.applyPatch(structuredClone(original), structuredClone(patch));
        expect(applied.newDocument).toEqual(fixed);
      }),
      { numRuns: 2_000 },
    );
  });

  it("patches a per-pod Service's traffic policy before its labels, escaping '/'", () => {
    const service = aService({ podName: "web-1", noLabels: true, type: "LoadBalancer" });
    const spec = service["spec"] as Record<string, unknown>;
    const fixed = {
      ...service,
      metadata: {
        ...(service["metadata"] as object),
        labels: { "stsguard.io/statefulset": "web" },
      },
      spec: { ...spec, externalTrafficPolicy: "Local" },
    };
    expect(diffPatch(service, fixed)).toEqual([
      { op: "add", path: "/spec/externalTrafficPolicy", value: "Local" },
      { op: "add", path: "/metadata/labels", value: { "stsguard.io/statefulset": "web" } },
    ]);
    const labelled = { ...fixed, metadata: { ...fixed.metadata, labels: { a: "b" } } };
    const more = {
      ...labelled,
      metadata: { ...labelled.metadata, labels: { a: "b", "x/y": "z" } },
    };
    expect(diffPatch(labelled, more)).toEqual([
      { op: "add", path: "/metadata/labels/x~1y", value: "z" },
    ]);
    expect(diffPatch(service, service)).toEqual([]);
  });
});
