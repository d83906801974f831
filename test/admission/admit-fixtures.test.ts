import { describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import type { AdmissionResult } from "../../src/admission/types.js";
import type { RuleId } from "../../src/policy/index.js";
import { listFixtures, stsguardLabels } from "../helpers/objects.js";
import {
  applyAdmissionPatch,
  configFor,
  fixtureSource,
  requestFromFixture,
} from "./admission-inputs.js";

// Every recorded AdmissionReview, against `web` (2 replicas) and `db` (from 5) in `demo`, on the
// Kubernetes version they were recorded on. A new fixture fails the completeness check below
// until it gets a row here.

interface MutateRow {
  readonly name: string;
  /** The pod the per-pod Service selects; null when the request is not one stsguard mutates. */
  readonly pod: string | null;
  /** Whether the patch sets externalTrafficPolicy: Local. */
  readonly local: boolean;
}

const mutateRows: MutateRow[] = [
  { name: "service-create-clusterip-externalips", pod: "web-0", local: false },
  { name: "service-create-clusterip", pod: "web-0", local: false },
  { name: "service-create-dryrun-with-mutation", pod: "web-0", local: false },
  { name: "service-create-dryrun", pod: "web-1", local: true },
  { name: "service-create-externalname", pod: null, local: false },
  { name: "service-create-headless", pod: null, local: false },
  { name: "service-create-loadbalancer-etp-local", pod: "web-1", local: false },
  { name: "service-create-loadbalancer", pod: "web-0", local: true },
  { name: "service-create-no-labels", pod: "web-1", local: true },
  { name: "service-create-nodeport", pod: "web-0", local: true },
  { name: "service-create-server-side-apply", pod: "web-0", local: true },
  { name: "service-delete", pod: null, local: false },
  { name: "service-update-apply", pod: "web-0", local: true },
  { name: "service-update-json-patch-etp", pod: "web-1", local: true },
  { name: "service-update-merge-patch", pod: "web-0", local: false },
  { name: "service-update-type-clusterip-to-loadbalancer", pod: "web-0", local: true },
  // Still carries externalTrafficPolicy: Cluster at mutating time; the API server drops it later.
  { name: "service-update-type-loadbalancer-to-clusterip", pod: "web-1", local: false },
  { name: "statefulset-create-ordinals-start-5", pod: null, local: false },
  { name: "statefulset-create", pod: null, local: false },
  { name: "statefulset-scale-update", pod: null, local: false },
].map((row) => ({ ...row, name: `${row.name}.at-mutating` }));

interface ValidateRow {
  readonly name: string;
  readonly allowed: boolean;
  readonly errors: readonly RuleId[];
  readonly warnings: readonly RuleId[];
}

const validateRows: ValidateRow[] = (
  [
    ["service-create-clusterip-externalips", false, ["missing-labels"], []],
    ["service-create-clusterip", false, ["missing-labels"], []],
    ["service-create-dryrun-with-mutation", false, ["missing-labels"], []],
    ["service-create-dryrun", false, ["external-traffic-policy", "missing-labels"], []],
    ["service-create-externalname", true, [], []],
    ["service-create-headless", true, [], []],
    ["service-create-loadbalancer-etp-local", false, ["missing-labels"], []],
    ["service-create-loadbalancer", false, ["external-traffic-policy", "missing-labels"], []],
    ["service-create-no-labels", false, ["external-traffic-policy", "missing-labels"], []],
    ["service-create-nodeport", false, ["external-traffic-policy", "missing-labels"], []],
    ["service-create-server-side-apply", false, ["external-traffic-policy", "missing-labels"], []],
    ["service-delete", true, [], []],
    // The old object broke both rules already: an unrelated update only warns.
    ["service-update-apply", true, [], ["external-traffic-policy", "missing-labels"]],
    ["service-update-json-patch-etp", false, ["external-traffic-policy"], ["missing-labels"]],
    ["service-update-merge-patch", true, [], ["missing-labels"]],
    [
      "service-update-type-clusterip-to-loadbalancer",
      false,
      ["external-traffic-policy"],
      ["missing-labels"],
    ],
    ["service-update-type-loadbalancer-to-clusterip", true, [], ["missing-labels"]],
    ["statefulset-create-ordinals-start-5", true, [], []],
    ["statefulset-create", true, [], []],
    ["statefulset-scale-update", true, [], []],
  ] as const
).map(([name, allowed, errors, warnings]) => ({
  name: `${name}.at-validating`,
  allowed,
  errors,
  warnings,
}));

const K8S_1_26 = configFor("1.26");
const deps = { source: fixtureSource(), config: K8S_1_26 };

const ETP_PATH = "/spec/externalTrafficPolicy";

/** The object with what the mutation may change put back as it was in `original`. */
function withoutOwnedFields(patched: unknown, original: unknown, pod: string | null): unknown {
  const copy = structuredClone(patched) as {
    metadata: { labels?: Record<string, string> | null };
    spec: Record<string, unknown>;
  };
  const before = original as typeof copy;
  if (pod !== null && copy.metadata.labels) {
    for (const key of Object.keys(stsguardLabels(pod))) {
      if (before.metadata.labels?.[key] === undefined)
        Reflect.deleteProperty(copy.metadata.labels, key);
    }
    if (!("labels" in before.metadata)) delete copy.metadata.labels;
  }
  if ("externalTrafficPolicy" in before.spec) {
    copy.spec["externalTrafficPolicy"] = before.spec["externalTrafficPolicy"];
  } else {
    delete copy.spec["externalTrafficPolicy"];
  }
  return copy;
}

function rulesOf(result: AdmissionResult, severity: "error" | "warning"): RuleId[] {
  return result.findings
    .filter((f) => f.severity === severity)
    .map((f) => f.rule)
    .sort();
}

describe("admit over the recorded AdmissionReviews", () => {
  it("has a row for every recorded fixture", () => {
    expect(mutateRows.map((r) => r.name).sort()).toEqual(listFixtures().filter(isMutating));
    expect(validateRows.map((r) => r.name).sort()).toEqual(
      listFixtures().filter((n) => !isMutating(n)),
    );
  });

  it.each(mutateRows)("/mutate $name", async ({ name, pod, local }) => {
    const request = requestFromFixture(name);
    const result = await admit(request, "mutate", deps);

    expect(result.allowed).toBe(true);
    expect(result.status).toBeNull();
    expect(result.warnings).toEqual([]);
    if (pod === null) {
      expect(result.patch).toEqual([]);
      return;
    }
    const patched = applyAdmissionPatch(request.object, result.patch) as {
      metadata: { labels: Record<string, string> };
      spec: Record<string, unknown>;
    };
    expect(patched.metadata.labels).toMatchObject(stsguardLabels(pod));
    const original = request.object as { spec: Record<string, unknown> };
    expect(patched.spec["externalTrafficPolicy"]).toBe(
      local ? "Local" : original.spec["externalTrafficPolicy"],
    );
    expect(result.patch.some((op) => op.path === ETP_PATH)).toBe(local);
    expect(withoutOwnedFields(patched, request.object, pod)).toEqual(request.object);
    // JSON Pointer escaping: a label key's `/` must travel as `~1`.
    for (const op of result.patch.filter((o) => o.path.startsWith("/metadata/labels/"))) {
      expect(op.path).toMatch(/^\/metadata\/labels\/stsguard\.io~1(statefulset|ordinal)$/);
    }
    const again = await admit({ ...request, object: patched }, "mutate", deps);
    expect(again.patch).toEqual([]);
  });

  it.each(validateRows)("/validate $name", async ({ name, allowed, errors, warnings }) => {
    const request = requestFromFixture(name);
    const result = await admit(request, "validate", deps);

    expect(result.allowed).toBe(allowed);
    expect(result.patch).toEqual([]);
    expect(rulesOf(result, "error")).toEqual([...errors].sort());
    expect(rulesOf(result, "warning")).toEqual([...warnings].sort());
    expect(result.warnings.map((w) => w.split(":")[0]).sort()).toEqual([...warnings].sort());
    if (allowed) {
      expect(result.status).toBeNull();
    } else {
      expect(result.status).toMatchObject({ code: 403, reason: "Forbidden" });
      for (const rule of errors) expect(result.status?.message).toContain(`${rule}: `);
    }
  });

  it.each(mutateRows.filter((row) => row.pod !== null))(
    "/validate admits $name once /mutate patched it",
    async ({ name }) => {
      const request = requestFromFixture(name);
      const mutated = await admit(request, "mutate", deps);
      const patched = applyAdmissionPatch(request.object, mutated.patch);
      const result = await admit({ ...request, object: patched }, "validate", deps);
      expect(result.findings).toEqual([]);
      expect(result.allowed).toBe(true);
    },
  );

  it("adds Local to a ClusterIP Service with externalIPs on Kubernetes 1.29, not on 1.26", async () => {
    const request = requestFromFixture("service-create-clusterip-externalips.at-mutating");
    const on129 = await admit(request, "mutate", { ...deps, config: configFor("1.29") });
    const on126 = await admit(request, "mutate", deps);

    const patched = applyAdmissionPatch(request.object, on129.patch) as {
      spec: Record<string, unknown>;
    };
    expect(patched.spec["externalTrafficPolicy"]).toBe("Local");
    expect(on126.patch.some((op) => op.path === ETP_PATH)).toBe(false);
    const validated = await admit(
      requestFromFixture("service-create-clusterip-externalips.at-validating"),
      "validate",
      { ...deps, config: configFor("1.29") },
    );
    expect(validated.findings.map((f) => f.rule).sort()).toEqual([
      "external-traffic-policy",
      "missing-labels",
    ]);
  });

  it("adds the whole labels map when the Service arrives without metadata.labels", async () => {
    const request = requestFromFixture("service-create-no-labels.at-mutating");
    const result = await admit(request, "mutate", deps);
    expect(result.patch).toContainEqual({
      op: "add",
      path: "/metadata/labels",
      value: stsguardLabels("web-1"),
    });
  });

  it("answers a dry run exactly as the same request without dryRun", async () => {
    for (const suffix of ["at-mutating", "at-validating"] as const) {
      const request = requestFromFixture(`service-create-dryrun.${suffix}`);
      expect(request.dryRun).toBe(true);
      const mode = suffix === "at-mutating" ? "mutate" : "validate";
      const dry = await admit(request, mode, deps);
      const real = await admit({ ...request, dryRun: false }, mode, deps);
      expect(dry).toEqual(real);
    }
  });
});

function isMutating(name: string): boolean {
  return name.endsWith(".at-mutating");
}
