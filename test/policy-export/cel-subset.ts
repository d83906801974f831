/**
 * The CEL functions the exported policies may call, and how each one is proven on the real
 * Kubernetes 1.26 API server (test/e2e/cel-functions.e2e.test.ts runs every probe there).
 *
 * `object` is `dyn` in a ValidatingAdmissionPolicy, and the exported expressions read the target
 * by index (`object.spec.selector['statefulset.kubernetes.io/pod-name']`), so every string
 * function below is probed on a value read by index, and most also on a field. That is where 1.26
 * surprises: `object.spec.selector['…'].lastIndexOf('-')` and `object.metadata['name']
 * .lastIndexOf('-')` fail with `no such overload: lastIndexOf(string, string)` (indexOf alike),
 * while `object.metadata.name.lastIndexOf('-')` and `'web-1'.lastIndexOf('-')` run.
 *
 * - `STANDARD`: the CEL language definition, which every version has. Verdicts (validation
 *   `expression`, `matchConditions`, every 1.26 policy) use only these.
 * - `EXTENSIONS`: Kubernetes' CEL libraries, present in every version from 1.26 (the base
 *   environment in k8s.io/apiserver pkg/cel/library/libraries.go at kubernetes-1.26.0,
 *   pkg/cel/environment/base.go from kubernetes-1.28.0). Used only for values: messages (1.27+)
 *   and mutations (1.32+).
 *
 * The probes evaluate on a Service whose `metadata.name` is `redis-2-0`, with the annotation
 * `probe: redis-2-0` (read by index as `P` below) and `spec.externalIPs: ['192.0.2.1',
 * '192.0.2.2']`; each must be true.
 */

/** `has` and the comprehensions are macros; the rest are functions. Operators are not listed. */
/** The annotation `probe`, read by index as the exported CEL reads the pod-name selector. */
const P = "object.metadata.annotations['probe']";

export const STANDARD: Readonly<Record<string, readonly string[]>> = {
  has: ["has(object.metadata.name) && !has(object.metadata.generateName)"],
  size: [
    "size(object.metadata.name) == 9",
    `size(${P}) == 9`,
    "size(object.spec.externalIPs) == 2",
    "size(object.metadata.annotations) == 1",
  ],
  matches: [
    "object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?-(0|[1-9][0-9]{0,8})$')",
    "!object.metadata.name.matches('^redis-(0|[1-9][0-9]*)$')",
    `${P}.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?-(0|[1-9][0-9]{0,8})$')`,
  ],
  dyn: ["size(dyn([['a', 'b']]) + dyn([])) == 1", "dyn([]).exists(l, l[0] == 'a') == false"],
  exists: ["object.spec.externalIPs.exists(ip, ip == '192.0.2.2')"],
  filter: ["size(object.spec.externalIPs.filter(ip, ip != '192.0.2.2')) == 1"],
  map: ["object.spec.externalIPs.map(ip, ip + '/32')[1] == '192.0.2.2/32'"],
};

export const EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  // k8s.io/apiserver pkg/cel/library/regex.go: the first match, or '' when there is none.
  find: [
    "object.metadata.name.find('[0-9]+$') == '0'",
    `${P}.find('[0-9]+$') == '0'`,
    "object.metadata.name.find('x+$') == ''",
  ],
  // cel-go ext/strings.go: code points from the start index to the end index (exclusive).
  substring: [
    "object.metadata.name.substring(0, size(object.metadata.name) - 2) == 'redis-2'",
    "object.metadata.name.substring(6) == '2-0'",
    `${P}.substring(0, size(${P}) - size(${P}.find('[0-9]+$')) - 1) == 'redis-2'`,
    `${P}.substring(8) == '0'`,
  ],
  join: [
    "object.spec.externalIPs.join(', ') == '192.0.2.1, 192.0.2.2'",
    `[[${P}, 'x']].map(l, l[0] + '=' + l[1]).join(', ') == 'redis-2-0=x'`,
  ],
};

/** Functions every version has, which the verdicts may use. */
export const VERDICT_FUNCTIONS: ReadonlySet<string> = new Set(Object.keys(STANDARD));

/** Functions the messages and mutations may use besides those. */
export const VALUE_FUNCTIONS: ReadonlySet<string> = new Set([
  ...Object.keys(STANDARD),
  ...Object.keys(EXTENSIONS),
]);

/**
 * Shown by the JS runtime when an expression calls a function outside the set: what 1.26's API
 * server answered for `lastIndexOf` (test/fixtures/apiserver-differences/policy-lastindexof-on-dyn-string.json).
 */
export function notInSubset(name: string): string {
  return (
    `no such overload: ${name} is not among the CEL functions proven on Kubernetes 1.26's ` +
    `API server on a value read by index (test/policy-export/cel-subset.ts)`
  );
}
