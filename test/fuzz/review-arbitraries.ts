/**
 * fast-check arbitraries for AdmissionReviews: a recorded fixture, then a few random edits
 * (deletions, wrong types, deep nesting, huge and unicode strings, prototype keys, odd pod names,
 * operations, kinds, dryRun and uid values). Edits name their target by a number that picks among
 * the paths the review has at that moment, so every sample is reproducible from its seed.
 */
import fc from "fast-check";
import { listFixtures, loadFixture } from "../helpers/objects.js";

type Json = unknown;
type Path = readonly (string | number)[];

export type Edit =
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "replace"; readonly at: number; readonly value: Json }
  | { readonly kind: "nest"; readonly at: number; readonly depth: number; readonly asList: boolean }
  | {
      readonly kind: "prototype-key";
      readonly at: number;
      readonly key: string;
      readonly value: Json;
    }
  | { readonly kind: "set"; readonly path: Path; readonly value: Json };

const POD_NAME_KEY = "statefulset.kubernetes.io/pod-name";

/** The StatefulSets the test source knows (web: 0-1, db: 5-6 in demo) and names around them. */
const podNames: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("web-0", "web-1", "web-2", "db-5", "db-6", "db-4") },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.stringMatching(/^[a-z0-9-]{0,66}$/), fc.integer({ min: -3, max: 2 ** 32 }))
      .map(([name, ordinal]) => `${name}-${ordinal}`),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      "-",
      "web-",
      "-0",
      "web-01",
      "web-+1",
      "web-1e3",
      "web-0x1",
      "WEB-0",
      " web-0",
      "web-0\n",
      "wéb-0",
      "web\u0000-0",
      "__proto__-0",
      "constructor-0",
      "hasOwnProperty-1",
      `${"a".repeat(63)}-0`,
      "web-2147483648",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.constant([])),
  },
);

/** Strings that are long, unicode (lone surrogates and control characters too) or both. */
const strings: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 100 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1_000, max: 300_000 }), fc.constantFrom("x", "é", "😀", "-0"))
      .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length))),
  },
);

/** Any JSON value, of a type the field rarely has. */
const values: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: strings },
  {
    weight: 2,
    arbitrary: fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true })),
  },
  { weight: 1, arbitrary: fc.constantFrom([], {}, [null], { "": "" }) },
  { weight: 1, arbitrary: fc.array(strings, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(strings, strings, { maxKeys: 4 }) },
);

const operations = fc.constantFrom("CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH", "create", "");
const kinds = fc.constantFrom<Json>(
  { group: "", version: "v1", kind: "Service" },
  { group: "apps", version: "v1", kind: "StatefulSet" },
  { group: "autoscaling", version: "v1", kind: "Scale" },
  { group: "", version: "v1", kind: "Pod" },
  { group: "apps", version: "v1beta1", kind: "StatefulSet" },
  { kind: "Service" },
  "Service",
);
const resources = fc.constantFrom<Json>(
  { group: "", version: "v1", resource: "services" },
  { group: "apps", version: "v1", resource: "statefulsets" },
  { group: "apps", version: "v1", resource: "pods" },
);
const dryRuns = fc.constantFrom<Json>(true, false, null, "true", 1, {});
const uids = fc.constantFrom<Json>("", null, 7, ["u"], "😀", "x".repeat(10_000));

const edits: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), value: values }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("nest" as const),
      at: fc.nat(),
      depth: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 120, max: 6_000 })),
      asList: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("prototype-key" as const),
      at: fc.nat(),
      key: fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty"),
      value: values,
    }),
  },
  {
    weight: 4,
    arbitrary: podNames.map((value) => ({
      kind: "set" as const,
      path: ["request", "object", "spec", "selector", POD_NAME_KEY],
      value,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      operations.map((value) => ({ kind: "set" as const, path: ["request", "operation"], value })),
      kinds.map((value) => ({ kind: "set" as const, path: ["request", "kind"], value })),
      resources.map((value) => ({ kind: "set" as const, path: ["request", "resource"], value })),
      fc
        .constantFrom<Json>("scale", "status", "", null)
        .map((value) => ({ kind: "set" as const, path: ["request", "subResource"], value })),
      dryRuns.map((value) => ({ kind: "set" as const, path: ["request", "dryRun"], value })),
      fc
        .constantFrom<Json>("LoadBalancer", "NodePort", "ClusterIP", "ExternalName", "", 3)
        .map((value) => ({
          kind: "set" as const,
          path: ["request", "object", "spec", "type"],
          value,
        })),
      fc.constantFrom<Json>("Local", "Cluster", "", null, 1).map((value) => ({
        kind: "set" as const,
        path: ["request", "object", "spec", "externalTrafficPolicy"],
        value,
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: uids.map((value) => ({ kind: "set" as const, path: ["request", "uid"], value })),
  },
);

export interface ReviewSample {
  readonly fixture: string;
  readonly edits: readonly Edit[];
}

export const reviewSamples: fc.Arbitrary<ReviewSample> = fc.record({
  fixture: fc.constantFrom(...listFixtures()),
  edits: fc.array(edits, { minLength: 1, maxLength: 5 }),
});

// Deeper than this, nesting is written into the JSON text instead of built as objects: the
// test's own JSON.stringify would run out of stack long before the server's JSON.parse does.
const MAX_BUILT_DEPTH = 500;

/** The fixture with the edits applied, in order, as the JSON text to send. */
export function buildReviewBody(sample: ReviewSample): string {
  const review = loadFixture(sample.fixture) as unknown as Record<string, unknown>;
  const deep = new Map<string, { inner: string; depth: number; asList: boolean }>();
  for (const edit of sample.edits) applyEdit(review, edit, deep);
  let body = JSON.stringify(review);
  for (const [marker, { inner, depth, asList }] of deep) {
    const [open, close] = asList ? ["[", "]"] : ['{"nested":', "}"];
    body = body.replace(JSON.stringify(marker), open.repeat(depth) + inner + close.repeat(depth));
  }
  return body;
}

function applyEdit(
  root: Record<string, unknown>,
  edit: Edit,
  deep: Map<string, { inner: string; depth: number; asList: boolean }>,
): void {
  // Values are copied in: fast-check replays the same sample objects while shrinking, and a
  // later edit must never mutate (or make a cycle through) a value an earlier sample holds.
  if (edit.kind === "set") {
    setAt(root, edit.path, structuredClone(edit.value));
    return;
  }
  const paths = listPaths(root);
  if (edit.kind === "prototype-key") {
    const maps = paths.filter((path) => isMap(readAt(root, path)));
    const target = readAt(root, maps[edit.at % maps.length] ?? []);
    // An own property, as JSON.parse makes it; plain assignment of __proto__ would not be one.
    if (isMap(target)) {
      Object.defineProperty(target, edit.key, {
        value: structuredClone(edit.value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return;
  }
  const path = paths[edit.at % paths.length];
  if (path === undefined || path.length === 0) return;
  if (edit.kind === "delete") {
    const parent = readAt(root, path.slice(0, -1));
    const key = path[path.length - 1];
    if (Array.isArray(parent) && typeof key === "number") parent.splice(key, 1);
    else if (isMap(parent) && typeof key === "string") Reflect.deleteProperty(parent, key);
    return;
  }
  if (edit.kind === "replace") {
    setAt(root, path, structuredClone(edit.value));
    return;
  }
  let nested = readAt(root, path);
  if (edit.depth > MAX_BUILT_DEPTH) {
    const marker = `__stsguard_fuzz_nested_${deep.size}__`;
    deep.set(marker, {
      inner: JSON.stringify(nested === undefined ? null : nested),
      depth: edit.depth,
      asList: edit.asList,
    });
    setAt(root, path, marker);
    return;
  }
  for (let level = 0; level < edit.depth; level += 1) {
    nested = edit.asList ? [nested] : { nested };
  }
  setAt(root, path, nested);
}

/** Every path in the value, root first, down to a depth that keeps the list small. */
function listPaths(value: Json, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (prefix.length >= 12) return out;
  if (Array.isArray(value)) {
    value.forEach((child, index) => listPaths(child, [...prefix, index], out));
  } else if (isMap(value)) {
    for (const [key, child] of Object.entries(value)) listPaths(child, [...prefix, key], out);
  }
  return out;
}

function readAt(root: Json, path: Path): Json {
  let current = root;
  for (const key of path) {
    if (Array.isArray(current) && typeof key === "number") current = current[key];
    else if (isMap(current) && typeof key === "string" && Object.hasOwn(current, key)) {
      current = current[key];
    } else return undefined;
  }
  return current;
}

/** Sets the value at `path`, making maps on the way where the path runs into something else. */
function setAt(root: Record<string, unknown>, path: Path, value: Json): void {
  let current: Record<string, unknown> | Json[] = root;
  path.forEach((key, index) => {
    const last = index === path.length - 1;
    if (Array.isArray(current) && typeof key === "number") {
      if (last) current[key] = value;
      else {
        const next = current[key];
        current = isMap(next) || Array.isArray(next) ? next : (current[key] = {});
      }
      return;
    }
    const map: Record<string, unknown> = isMap(current) ? current : {};
    const name = String(key);
    if (last) {
      Object.defineProperty(map, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return;
    }
    const next = Object.hasOwn(map, name) ? map[name] : undefined;
    if (isMap(next) || Array.isArray(next)) current = next;
    else {
      const made = {};
      Object.defineProperty(map, name, {
        value: made,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      current = made;
    }
  });
}

function isMap(value: Json): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
