import { describe, expect, it } from "vitest";
import {
  evaluateGoverningService,
  needsGoverningService,
  summarizeService,
  summarizeStatefulSet,
  type ServiceLookup,
  type ServiceSummary,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import { deepFreeze } from "../helpers/objects.js";
import { aSummary, policyWith, type PolicyOverrides } from "./engine-inputs.js";
import { GOVERNING_SERVICE_CASES } from "./governing-service-cases.js";

function headless(overrides: Partial<ServiceSummary> = {}): ServiceLookup {
  return {
    status: "found",
    service: deepFreeze({
      namespace: "demo",
      name: "web",
      headless: true,
      selector: { app: "web" },
      ...overrides,
    }),
  };
}

interface Row {
  readonly name: string;
  readonly sts?: Partial<StatefulSetSummary>;
  readonly lookup: ServiceLookup;
  readonly config?: PolicyOverrides;
  /** Parts of the one expected message; undefined: no finding. */
  readonly message?: readonly string[];
  readonly severity?: "error" | "warning";
  readonly path?: readonly string[];
}

const rows: readonly Row[] = [
  { name: "a headless Service selecting the pods passes", lookup: headless() },
  {
    name: "a selector that is a subset of the pod labels passes",
    sts: { podLabels: { app: "web", tier: "db" } },
    lookup: headless(),
  },
  {
    name: "missing Service",
    lookup: { status: "not-found" },
    message: ["StatefulSet demo/web", "Service web, which does not exist in namespace demo"],
    severity: "warning",
    path: ["spec", "serviceName"],
  },
  {
    name: "Service in another namespace",
    lookup: { status: "not-found", elsewhere: ["other"] },
    message: ["exists in namespace other, but it must be in the StatefulSet's own"],
  },
  {
    name: "not headless",
    lookup: headless({ headless: false }),
    message: ["which is not headless", "clusterIP: None"],
  },
  {
    name: "selector mismatch",
    lookup: headless({ selector: { app: "other" } }),
    message: ["selector app=other does not match the pod template's labels"],
  },
  {
    name: "selector key the pods lack",
    lookup: headless({ selector: { app: "web", role: "db" } }),
    message: ["selector role=db does not match"],
  },
  {
    name: "headless Service without a selector",
    lookup: headless({ selector: {} }),
    message: ["has no selector"],
  },
  {
    name: "serviceName empty",
    sts: { serviceName: "" },
    lookup: { status: "not-found" },
    message: ["has no spec.serviceName"],
    path: ["spec"],
  },
  {
    name: "unresolved (not among the inputs) is no finding",
    lookup: { status: "unresolved", reason: "not among the inputs" },
  },
  {
    name: "unavailable is no finding",
    lookup: { status: "unavailable", reason: "timeout" },
  },
  {
    name: "configured as error",
    lookup: { status: "not-found" },
    config: { severities: { "governing-service": "error" } },
    message: ["does not exist"],
    severity: "error",
  },
  {
    name: "switched off",
    lookup: { status: "not-found" },
    config: { severities: { "governing-service": "off" } },
  },
];

describe("governing-service", () => {
  it.each(rows)("$name", (row) => {
    const sts = aSummary(row.sts);
    const findings = evaluateGoverningService(sts, row.lookup, policyWith(row.config ?? {}));
    if (!row.message) {
      expect(findings).toEqual([]);
      return;
    }
    expect(findings).toHaveLength(1);
    const [finding] = findings;
    expect(finding?.rule).toBe("governing-service");
    expect(finding?.fixable).toBe(false);
    expect(finding?.severity).toBe(row.severity ?? "warning");
    for (const part of row.message) expect(finding?.message).toContain(part);
    if (row.path) expect(finding?.path).toEqual(row.path);
  });

  it("needs no lookup when the rule is off or serviceName is empty", () => {
    expect(needsGoverningService(aSummary(), policyWith({}))).toBe(true);
    expect(needsGoverningService(aSummary({ serviceName: "" }), policyWith({}))).toBe(false);
    const off = policyWith({ severities: { "governing-service": "off" } });
    expect(needsGoverningService(aSummary(), off)).toBe(false);
  });

  it("summarizes any core Service: headless only with clusterIP None", () => {
    const service = (spec: unknown): unknown => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web" },
      spec,
    });
    expect(summarizeService(service({ clusterIP: "None", selector: { app: "web" } }), "d")).toEqual(
      { namespace: "d", name: "web", headless: true, selector: { app: "web" } },
    );
    expect(summarizeService(service({ clusterIP: "10.0.0.1" }), "d")?.headless).toBe(false);
    expect(summarizeService(service({ selector: ["not", "a", "map"] }), "d")?.selector).toEqual({});
    expect(
      summarizeService({ kind: "Service", apiVersion: "v2", metadata: { name: "x" } }, "d"),
    ).toBe(null);
  });
});

describe("governing-service over the shared case table (engine)", () => {
  it.each(GOVERNING_SERVICE_CASES)("$name", (row) => {
    const sts = summarizeStatefulSet(row.statefulSet, "default");
    if (!sts) throw new Error("the case's StatefulSet does not summarize");
    const service = row.service && summarizeService(row.service, "default");
    const lookup: ServiceLookup =
      service && service.namespace === sts.namespace && service.name === sts.serviceName
        ? { status: "found", service }
        : { status: "not-found" };
    const findings = evaluateGoverningService(sts, lookup, policyWith({}));
    expect(findings.map((f) => f.rule)).toEqual(row.expected ? ["governing-service"] : []);
    if (row.expected) expect(findings[0]?.message).toContain(row.expected);
  });
});
