/**
 * The exported CEL stays inside what Kubernetes 1.26's API server runs (./cel-subset.ts, proven
 * there by test/e2e/cel-functions.e2e.test.ts): verdicts in standard CEL, values also with
 * `find`, `substring` and `join`; and the JS runtime of the differential test refuses the rest,
 * so it cannot agree with the engine where the API server would fail.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import { decimalsUpTo } from "../../src/policy-export/cel.js";
import { exportAdmissionPolicies } from "../../src/policy-export/index.js";
import { aService } from "../helpers/objects.js";
import { policyWith, type PolicyOverrides } from "../policy/engine-inputs.js";
import { calledFunctions, validate, type Request } from "./admission-policy-runtime.js";
import { EXTENSIONS, STANDARD, VALUE_FUNCTIONS, VERDICT_FUNCTIONS } from "./cel-subset.js";

interface Expressions {
  readonly verdicts: string[];
  readonly values: string[];
}

/** Every CEL expression of an export, by place. */
function expressionsOf(objects: readonly Readonly<Record<string, unknown>>[]): Expressions {
  const verdicts: string[] = [];
  const values: string[] = [];
  for (const object of objects) {
    const spec = object["spec"] as {
      matchConditions?: { expression: string }[];
      validations?: { expression: string; messageExpression?: string }[];
      mutations?: { applyConfiguration: { expression: string } }[];
    };
    for (const condition of spec.matchConditions ?? []) verdicts.push(condition.expression);
    for (const validation of spec.validations ?? []) {
      verdicts.push(validation.expression);
      if (validation.messageExpression !== undefined) values.push(validation.messageExpression);
    }
    for (const mutation of spec.mutations ?? [])
      values.push(mutation.applyConfiguration.expression);
  }
  return { verdicts, values };
}

const CONFIGS: PolicyOverrides[] = [
  {},
  {
    labelPrefix: "acme.example",
    extraLabels: [
      { key: "example.com/owner", value: "platform" },
      { key: "example.com/team", fromStatefulSetLabel: "team" },
    ],
    preexistingViolations: "enforce",
  },
  { severities: { "malformed-pod-name": "warning", "external-traffic-policy": "warning" } },
];
const VERSIONS = ["1.26", "1.27", "1.28", "1.29", "1.30", "1.32", "1.34", "1.36"];

describe("the exported CEL uses only functions proven on Kubernetes 1.26's API server", () => {
  it.each(VERSIONS)("on %s: verdicts standard CEL, values also find/substring/join", (version) => {
    const seen = new Set<string>();
    let verdictCount = 0;
    let valueCount = 0;
    for (const config of CONFIGS) {
      const { objects } = exportAdmissionPolicies(policyWith({ ...config, kubeVersion: version }), {
        kubeVersion: parseKubeVersion(version),
      });
      const { verdicts, values } = expressionsOf(objects);
      verdictCount += verdicts.length;
      valueCount += values.length;
      for (const expression of verdicts) {
        for (const name of calledFunctions(expression)) {
          expect({ name, verdict: VERDICT_FUNCTIONS.has(name) }).toEqual({ name, verdict: true });
          seen.add(name);
        }
      }
      for (const expression of values) {
        for (const name of calledFunctions(expression)) {
          expect({ name, value: VALUE_FUNCTIONS.has(name) }).toEqual({ name, value: true });
          seen.add(name);
        }
      }
    }
    expect(verdictCount).toBeGreaterThan(0);
    // 1.26 has no messageExpression and no mutation: nothing but verdicts.
    expect(valueCount > 0).toBe(version !== "1.26");
    expect([...seen].filter((name) => !(name in STANDARD) && !(name in EXTENSIONS))).toEqual([]);
  });

  it("the subsets name the functions the export really calls, no more", () => {
    const used = new Set<string>();
    for (const version of VERSIONS) {
      for (const config of CONFIGS) {
        const { objects } = exportAdmissionPolicies(
          policyWith({ ...config, kubeVersion: version }),
          { kubeVersion: parseKubeVersion(version) },
        );
        const { verdicts, values } = expressionsOf(objects);
        for (const expression of [...verdicts, ...values]) {
          for (const name of calledFunctions(expression)) used.add(name);
        }
      }
    }
    expect([...used].sort()).toEqual([...VALUE_FUNCTIONS].sort());
  });

  it("the runtime refuses lastIndexOf, which 1.26 cannot call on the selector value", () => {
    const request: Request = {
      operation: "CREATE",
      namespace: "demo",
      object: aService({ podName: "web-1" }) as never,
      oldObject: null,
    };
    const policy = (expression: string, messageExpression?: string): never[] =>
      [
        {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingAdmissionPolicy",
          metadata: { name: "p" },
          spec: {
            validations: [
              {
                expression,
                message: "static",
                ...(messageExpression ? { messageExpression } : {}),
              },
            ],
          },
        },
        {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingAdmissionPolicyBinding",
          metadata: { name: "p" },
          spec: { policyName: "p", validationActions: ["Deny"] },
        },
      ] as never[];
    const lastIndexOf =
      "object.spec.selector['statefulset.kubernetes.io/pod-name'].lastIndexOf('-') == 3";
    expect(() => validate(policy(lastIndexOf), request)).toThrow(
      /^no such overload: lastIndexOf is not among the CEL functions proven/,
    );
    // Values may use find and substring, verdicts may not.
    const find = "object.spec.selector['statefulset.kubernetes.io/pod-name'].find('[0-9]+$')";
    expect(() => validate(policy(`${find} == '1'`), request)).toThrow(/no such overload: find/);
    expect(validate(policy("false", `'ordinal ' + ${find}`), request)).toEqual({
      denied: ["ordinal 1"],
      warnings: [],
    });
    expect(() =>
      validate(policy("false", `${find}.lastIndexOf('1') > 0 ? 'a' : 'b'`), request),
    ).toThrow(/no such overload: lastIndexOf/);
  });
});

describe("decimalsUpTo", () => {
  const canonical = /^(0|[1-9][0-9]*)$/;

  it.each([0, 1, 9, 10, 19, 20, 100, 101, 999, 1000, 2147483647])(
    "matches exactly the canonical decimals up to %i",
    (max) => {
      const pattern = new RegExp(`^(${decimalsUpTo(max)})$`);
      const samples = [
        0,
        1,
        9,
        10,
        max - 1,
        max,
        max + 1,
        max * 10,
        max + 10 ** String(max).length,
      ];
      for (const n of samples.filter((v) => v >= 0)) {
        expect({ n, matches: pattern.test(String(n)) }).toEqual({ n, matches: n <= max });
      }
      expect(pattern.test(`0${max}`)).toBe(false);
      expect(pattern.test("")).toBe(false);
      expect(pattern.test("-1")).toBe(false);
    },
  );

  it("agrees with numeric comparison on generated strings of digits around int32", () => {
    const pattern = new RegExp(`^(${decimalsUpTo(2147483647)})$`);
    const digits = fc.oneof(
      fc.stringMatching(/^[0-9]{1,12}$/),
      fc.integer({ min: 2147483000, max: 2147484000 }).map(String),
      fc.bigInt({ min: 0n, max: 99999999999n }).map(String),
    );
    fc.assert(
      fc.property(digits, (text) => {
        const expected = canonical.test(text) && Number(text) <= 2147483647;
        expect({ text, matches: pattern.test(text) }).toEqual({ text, matches: expected });
      }),
      { numRuns: 5000 },
    );
  });

  it("refuses a negative or fractional bound", () => {
    expect(() => decimalsUpTo(-1)).toThrow(/not a non-negative integer: -1/);
    expect(() => decimalsUpTo(1.5)).toThrow(/not a non-negative integer: 1.5/);
  });
});
