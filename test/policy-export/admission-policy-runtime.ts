/**
 * Runs exported ValidatingAdmissionPolicies and MutatingAdmissionPolicies the way the API server
 * does, with a CEL evaluator from npm (@marcbachmann/cel-js):
 * - the object is first decoded as the API server decodes a core/v1 Service (`asDecoded`);
 * - a policy applies when its resource rule and every matchCondition match;
 * - a validation fails when its expression is false; its messageExpression is the message, else
 *   its static message;
 * - a binding without validationActions denies (Kubernetes 1.26's v1alpha1 has none; the
 *   OpenAPI schema tests show later versions always carry them);
 * - an ApplyConfiguration mutation is merged into the object (maps merge, scalars replace).
 *
 * It is restricted to what Kubernetes 1.26's API server runs (./cel-subset.ts): before an
 * expression runs, every function it calls must be in the subset for its place (verdicts: standard
 * CEL only; messages and mutations: also `find`, `substring`, `join`), else it throws what the API
 * server answers, `no such overload`. cel-js itself knows more (`lastIndexOf`, and `in` on
 * strings, which throws here too), so without this it would accept what the API server rejects. `find`, which
 * cel-js lacks, is Kubernetes' regex library function: the first match, or ''.
 *
 * cel-js has no typed object construction (`Object{...}`), which Kubernetes gives mutation
 * expressions; `toMapLiteral` rewrites it into the equivalent map literal. cel-js also treats
 * plain JS objects with a `constructor` key as foreign types, so maps are passed as `Map`s, and
 * it drops the keys `__proto__`, `constructor` and `prototype` from map literals (a guard in its
 * operators.js); those three strings are renamed on the way in and back on the way out.
 */
import { Environment } from "@marcbachmann/cel-js";
import { VALUE_FUNCTIONS, VERDICT_FUNCTIONS, notInSubset } from "./cel-subset.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Request {
  readonly operation: "CREATE" | "UPDATE";
  readonly namespace: string;
  readonly object: Json;
  readonly oldObject: Json;
}

export interface Verdict {
  /** `Deny` or `Warn` messages, by policy name. */
  readonly denied: readonly string[];
  readonly warnings: readonly string[];
}

interface PolicyObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const RESERVED = ["__proto__", "constructor", "prototype"];
const ALIAS = "stsguard-test-alias:";
const alias = (text: string): string => (RESERVED.includes(text) ? `${ALIAS}${text}` : text);
const unalias = (text: string): string => text.replaceAll(ALIAS, "");

/** JSON into what cel-js reads as CEL values: maps as Map, integers as BigInt. */
function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (isMap(value)) return new Map(Object.entries(value).map(([k, v]) => [alias(k), toCel(v)]));
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "string") return alias(value);
  return value;
}

function fromCel(value: unknown): Json {
  if (value instanceof Map) {
    const out: Record<string, Json> = {};
    for (const [k, v] of value as Map<string, unknown>) {
      Object.defineProperty(out, unalias(k), {
        value: fromCel(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  if (Array.isArray(value)) return value.map(fromCel);
  if (isMap(value)) return fromCel(new Map(Object.entries(value)));
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string") return unalias(value);
  return value as Json;
}

/** `Object{spec: Object.spec{f: x}}` → `{'spec': {'f': x}}`; every constructor here has one field. */
export function toMapLiteral(expression: string): string {
  return expression
    .replace(/\bObject(?:\.\w+)*\{\}/g, "{}")
    .replace(/\bObject(?:\.\w+)*\{(\w+):/g, "{'$1':");
}

const environment = new Environment({ unlistedVariablesAreDyn: true })
  .registerFunction(
    "string.find(string): string",
    (text: string, pattern: string) => new RegExp(pattern, "u").exec(text)?.[0] ?? "",
  )
  // CEL's `in` takes a list or a map; cel-js also takes a string (a substring test).
  .registerOperator("string in string", () => {
    throw new Error("no such overload: in(string, string)");
  });

type Program = ReturnType<typeof environment.parse>;
/** Where an expression stands: a verdict, or a value (message, mutation). */
export type Place = "verdict" | "value";

/** Every function an expression calls (macros included), from cel-js's AST. */
export function calledFunctions(expression: string): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (typeof node !== "object" || node === null) return;
    const { op, args } = node as { op?: unknown; args?: unknown };
    if ((op === "call" || op === "rcall") && Array.isArray(args) && typeof args[0] === "string") {
      names.add(args[0]);
    }
    visit(args);
  };
  visit(environment.parse(toMapLiteral(expression)).ast);
  return names;
}

const compiled = new Map<string, Program>();

function run(expression: string, request: Request, place: Place): unknown {
  const key = `${place}:${expression}`;
  let program = compiled.get(key);
  if (!program) {
    const allowed = place === "verdict" ? VERDICT_FUNCTIONS : VALUE_FUNCTIONS;
    for (const name of calledFunctions(expression)) {
      if (!allowed.has(name)) throw new Error(notInSubset(name));
    }
    program = environment.parse(
      toMapLiteral(expression).replace(/'(__proto__|constructor|prototype)'/g, `'${ALIAS}$1'`),
    );
    compiled.set(key, program);
  }
  return program({
    object: toCel(request.object),
    oldObject: toCel(request.oldObject),
    request: toCel({ operation: request.operation, namespace: request.namespace }),
  });
}

/** One expression's value as JSON, as the API server's CEL should compute it. */
export function evaluateCel(expression: string, request: Request, place: Place): Json {
  return fromCel(run(expression, request, place));
}

function matches(policy: PolicyObject, request: Request): boolean {
  const conditions = (policy.spec["matchConditions"] ?? []) as { expression: string }[];
  return conditions.every((c) => run(c.expression, request, "verdict") === true);
}

/** Runs the validating policies with their bindings' actions. */
export function validate(objects: readonly PolicyObject[], request: Request): Verdict {
  const denied: string[] = [];
  const warnings: string[] = [];
  const bindings = objects.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding");
  for (const policy of objects.filter((o) => o.kind === "ValidatingAdmissionPolicy")) {
    if (!matches(policy, request)) continue;
    const binding = bindings.find((b) => b.spec["policyName"] === policy.metadata.name);
    if (!binding) throw new Error(`no binding for ${policy.metadata.name}`);
    const actions = (binding.spec["validationActions"] as string[] | undefined) ?? ["Deny"];
    for (const v of policy.spec["validations"] as {
      expression: string;
      messageExpression?: string;
      message?: string;
    }[]) {
      const ok = run(v.expression, request, "verdict");
      if (typeof ok !== "boolean") throw new Error(`${policy.metadata.name}: not a bool`);
      if (ok) continue;
      const text =
        v.messageExpression === undefined
          ? v.message
          : fromCel(run(v.messageExpression, request, "value"));
      if (typeof text !== "string")
        throw new Error(`${policy.metadata.name}: message not a string`);
      if (actions.includes("Deny")) denied.push(text);
      if (actions.includes("Warn")) warnings.push(text);
    }
  }
  return { denied, warnings };
}

/** Server-side-apply merge of an apply configuration: maps merge key by key, the rest replaces. */
function merge(target: Json, patch: Json): Json {
  if (!isMap(target) || !isMap(patch)) return patch;
  const out: Record<string, Json> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    const current = Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined;
    Object.defineProperty(out, key, {
      value: current === undefined ? value : merge(current, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Runs the mutating policies in order and returns the mutated object. */
export function mutate(objects: readonly PolicyObject[], request: Request): Json {
  let object = request.object;
  for (const policy of objects.filter((o) => o.kind === "MutatingAdmissionPolicy")) {
    if (
      !objects.some(
        (o) =>
          o.kind === "MutatingAdmissionPolicyBinding" &&
          o.spec["policyName"] === policy.metadata.name,
      )
    ) {
      throw new Error(`no binding for ${policy.metadata.name}`);
    }
    const current = { ...request, object };
    if (!matches(policy, current)) continue;
    for (const m of policy.spec["mutations"] as { applyConfiguration: { expression: string } }[]) {
      const applied = fromCel(
        run(m.applyConfiguration.expression, { ...request, object }, "value"),
      );
      object = merge(object, applied);
    }
  }
  return object;
}
