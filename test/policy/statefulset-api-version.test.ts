import { describe, expect, it } from "vitest";
import { evaluateStatefulSetApiVersion } from "../../src/policy/index.js";
import { aStatefulSet, deepFreeze, loadFixture } from "../helpers/objects.js";
import { policyWith } from "./engine-inputs.js";

/** An old-chart StatefulSet: `aStatefulSet` under another apiVersion, with spec changes. */
function legacy(
  apiVersion: string,
  change: (spec: Record<string, unknown>) => void = () => undefined,
): Record<string, unknown> {
  const sts = aStatefulSet({ apiVersion });
  change(sts["spec"] as Record<string, unknown>);
  return sts;
}

interface Row {
  readonly name: string;
  readonly object: unknown;
  /** null: no finding. */
  readonly fixable: boolean | null;
  readonly message?: readonly RegExp[];
}

const rows: readonly Row[] = [
  { name: "apps/v1 is what Kubernetes serves", object: aStatefulSet(), fixable: null },
  {
    name: "apps/v1beta2 with a selector: only the version changes",
    object: legacy("apps/v1beta2"),
    fixable: true,
    message: [
      /^StatefulSet demo\/web uses apiVersion apps\/v1beta2, which Kubernetes removed in 1\.16: change apiVersion to apps\/v1 \(which requires spec\.selector; this one has it\)$/,
    ],
  },
  {
    name: "apps/v1beta1 with a selector and an explicit update strategy",
    object: legacy("apps/v1beta1", (spec) => {
      spec["updateStrategy"] = { type: "RollingUpdate" };
    }),
    fixable: true,
  },
  {
    name: "apps/v1beta1 relying on its OnDelete default: not fixed, the message says what to set",
    object: legacy("apps/v1beta1"),
    fixable: false,
    message: [
      /apps\/v1beta1, which Kubernetes removed in 1\.16: change apiVersion to apps\/v1 \(which requires spec\.selector; this one has it\); /,
      /set spec\.updateStrategy\.type: OnDelete to keep apps\/v1beta1's default \(apps\/v1 defaults to RollingUpdate\)$/,
    ],
  },
  {
    name: "apps/v1beta1 without spec.selector (it was defaulted then): not fixed",
    object: legacy("apps/v1beta1", (spec) => {
      delete spec["selector"];
      spec["updateStrategy"] = { type: "OnDelete" };
    }),
    fixable: false,
    message: [
      /add spec\.selector, which apps\/v1 requires: matchLabels with the pod template's labels \(app: web\)$/,
    ],
  },
  {
    name: "apps/v1beta2 whose selector is not a map: not fixed",
    object: legacy("apps/v1beta2", (spec) => {
      spec["selector"] = null;
    }),
    fixable: false,
    message: [/add spec\.selector/],
  },
  {
    name: "a version of apps that never existed: reported, never fixed",
    object: legacy("apps/v2"),
    fixable: false,
    message: [/uses apiVersion apps\/v2, which Kubernetes never served: change apiVersion/],
  },
  {
    name: "extensions/v1beta1 is not a StatefulSet group",
    object: legacy("extensions/v1beta1"),
    fixable: null,
  },
  {
    name: "a Deployment under apps/v1beta1",
    object: aStatefulSet({ apiVersion: "apps/v1beta1", kind: "Deployment" }),
    fixable: null,
  },
  { name: "null", object: null, fixable: null },
];

describe("removed-api-version", () => {
  it.each(rows)("$name", ({ object, fixable, message }) => {
    const input = deepFreeze(object);
    const result = evaluateStatefulSetApiVersion(input, "default", policyWith());
    if (fixable === null) {
      expect(result).toEqual({ findings: [], fixed: input });
      expect(result.fixed).toBe(input);
      return;
    }
    expect(result.findings).toHaveLength(1);
    const [finding] = result.findings;
    expect(finding).toMatchObject({
      rule: "removed-api-version",
      severity: "error",
      fixable,
      path: ["apiVersion"],
    });
    for (const pattern of message ?? []) expect(finding?.message).toMatch(pattern);
    if (fixable) {
      expect(result.fixed).toEqual({ ...(input as object), apiVersion: "apps/v1" });
      // Applying the fix again finds nothing: the fix is idempotent.
      expect(evaluateStatefulSetApiVersion(result.fixed, "default", policyWith()).findings).toEqual(
        [],
      );
    } else {
      expect(result.fixed).toBe(input);
    }
  });

  it("takes its severity from the configuration, and off means no finding and no fix", () => {
    const object = deepFreeze(legacy("apps/v1beta2"));
    const warning = evaluateStatefulSetApiVersion(
      object,
      "default",
      policyWith({ severities: { "removed-api-version": "warning" } }),
    );
    expect(warning.findings.map((f) => f.severity)).toEqual(["warning"]);
    const off = evaluateStatefulSetApiVersion(
      object,
      "default",
      policyWith({ severities: { "removed-api-version": "off" } }),
    );
    expect(off).toEqual({ findings: [], fixed: object });
  });

  it("names the object in --namespace when it names no namespace", () => {
    const object = aStatefulSet({ apiVersion: "apps/v1beta2", namespace: null });
    const [finding] = evaluateStatefulSetApiVersion(object, "kafka", policyWith()).findings;
    expect(finding?.message).toMatch(/^StatefulSet kafka\/web uses/);
  });

  it("never fires on what a real API server sends (it converts to apps/v1 first)", () => {
    const review = loadFixture("statefulset-create.at-validating");
    expect(
      evaluateStatefulSetApiVersion(review.request.object, "demo", policyWith()).findings,
    ).toEqual([]);
  });
});
