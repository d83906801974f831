/** `governing-service` at admission: StatefulSet CREATE and UPDATE, a warning only. */
import { describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import { summarizeService } from "../../src/policy/index.js";
import { createStaticSource } from "../../src/statefulsets/source.js";
import { GOVERNING_SERVICE_CASES } from "../policy/governing-service-cases.js";
import { aRequest, configFor } from "./admission-inputs.js";

const STATEFULSET_KIND = { group: "apps", version: "v1", kind: "StatefulSet" };
const STATEFULSET_RESOURCE = { group: "apps", version: "v1", resource: "statefulsets" };

const rows = GOVERNING_SERVICE_CASES.flatMap((row) =>
  (["CREATE", "UPDATE"] as const).flatMap((operation) =>
    (["warning", "error"] as const).map((severity) => ({
      ...row,
      operation,
      severity,
      title: `${row.name}, ${operation}, configured as ${severity}`,
    })),
  ),
);

describe("admit: governing-service on StatefulSet CREATE and UPDATE", () => {
  it.each(rows)("$title", async (row) => {
    const service = row.service && summarizeService(row.service, "demo");
    const source = createStaticSource([], [], service ? [service] : []);
    const config = configFor("1.30", {
      policy: {
        severities: { ...configFor("1.30").policy.severities, "governing-service": row.severity },
      },
    });
    const request = aRequest({
      operation: row.operation,
      kind: STATEFULSET_KIND,
      resource: STATEFULSET_RESOURCE,
      name: "web",
      object: row.statefulSet,
      oldObject: row.operation === "UPDATE" ? row.statefulSet : undefined,
    });
    const result = await admit(request, "validate", { source, config });
    // Only ever a warning: Helm and kubectl may create the Service after the StatefulSet.
    expect(result.allowed).toBe(true);
    expect(result.status).toBeNull();
    const governing = result.warnings.filter((w) => w.startsWith("governing-service: "));
    if (row.expected === null) {
      expect(governing).toEqual([]);
    } else {
      expect(governing).toHaveLength(1);
      expect(governing[0]).toContain(row.expected);
    }
    const mutated = await admit(request, "mutate", { source, config });
    expect(mutated).toMatchObject({ allowed: true, patch: [], warnings: [] });
  });

  it("says nothing when the rule is off, without looking the Service up", async () => {
    const source = createStaticSource([], []);
    const lookups: string[] = [];
    const spying = {
      ...source,
      lookupService: (namespace: string, name: string) => {
        lookups.push(`${namespace}/${name}`);
        return source.lookupService(namespace, name);
      },
    };
    const base = configFor("1.30");
    const config = configFor("1.30", {
      policy: { severities: { ...base.policy.severities, "governing-service": "off" } },
    });
    const [missing] = GOVERNING_SERVICE_CASES.filter((c) => c.name === "missing Service");
    const request = aRequest({
      kind: STATEFULSET_KIND,
      resource: STATEFULSET_RESOURCE,
      object: missing?.statefulSet,
    });
    const result = await admit(request, "validate", { source: spying, config });
    expect(result.warnings).toEqual([]);
    expect(lookups).toEqual([]);
  });
});
