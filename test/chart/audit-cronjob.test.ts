/** The audit CronJob: off by default; its own ServiceAccount; writes only the report resources. */
import { describe, expect, it } from "vitest";
import { REPORT_NAME } from "../../src/policy-reports/build.js";
import { FULLNAME, findByKind, renderChart } from "./helm.js";

interface PolicyRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly resourceNames?: string[];
  readonly verbs: string[];
}

const WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"];

describe("audit CronJob", () => {
  it("is off by default, and so is the PrometheusRule", () => {
    const objects = renderChart();
    expect(findByKind(objects, "CronJob")).toEqual([]);
    expect(findByKind(objects, "PrometheusRule")).toEqual([]);
  });

  it.each([
    { reportApi: "wgpolicyk8s", group: "wgpolicyk8s.io", resource: "policyreports" },
    { reportApi: "openreports", group: "openreports.io", resource: "reports" },
  ])(
    "$reportApi: runs audit --policy-reports with its own ServiceAccount, writing only $resource",
    (row) => {
      const objects = renderChart({
        values: { audit: { enabled: true, reportApi: row.reportApi, namespaces: ["kafka"] } },
      });
      const [cronJob] = findByKind(objects, "CronJob") as unknown as {
        spec: {
          concurrencyPolicy: string;
          jobTemplate: {
            spec: {
              template: {
                spec: {
                  serviceAccountName: string;
                  containers: { args: string[]; securityContext: Record<string, unknown> }[];
                };
              };
            };
          };
        };
      }[];
      const pod = cronJob?.spec.jobTemplate.spec.template.spec;
      expect(pod?.serviceAccountName).toBe(`${FULLNAME}-audit`);
      expect(pod?.containers[0]?.args).toEqual([
        "audit",
        "--config",
        "/etc/stsguard/config.yaml",
        "--policy-reports",
        "--report-api",
        row.reportApi,
        "--namespace",
        "kafka",
      ]);
      expect(pod?.containers[0]?.securityContext["readOnlyRootFilesystem"]).toBe(true);
      expect(cronJob?.spec.concurrencyPolicy).toBe("Forbid");

      const accounts = findByKind(objects, "ServiceAccount").map((a) => a.metadata.name);
      expect(accounts).toContain(`${FULLNAME}-audit`);
      const role = findByKind(objects, "ClusterRole").find(
        (r) => r.metadata.name === `${FULLNAME}-audit`,
      ) as { rules: PolicyRule[] } | undefined;
      const rules = role?.rules ?? [];
      const writing = rules.filter((r) => r.verbs.some((v) => WRITE_VERBS.includes(v)));
      expect(writing).toEqual([
        // A create cannot be limited by name: the authorizer does not know it yet.
        { apiGroups: [row.group], resources: [row.resource], verbs: ["create"] },
        // Only the report audit writes in each namespace (its name, from the writer itself);
        // the list too, which audit makes with the field selector metadata.name=stsguard.
        {
          apiGroups: [row.group],
          resources: [row.resource],
          resourceNames: [REPORT_NAME],
          verbs: ["get", "list", "update", "delete"],
        },
      ]);
      const reading = rules.filter((r) => !writing.includes(r));
      expect(reading.flatMap((r) => r.verbs)).toEqual(["list", "list", "list"]);
      expect(reading.flatMap((r) => r.resources).sort()).toEqual([
        "horizontalpodautoscalers",
        "namespaces",
        "services",
        "statefulsets",
      ]);
      const binding = findByKind(objects, "ClusterRoleBinding").find(
        (b) => b.metadata.name === `${FULLNAME}-audit`,
      ) as { subjects: { name: string }[] } | undefined;
      expect(binding?.subjects.map((s) => s.name)).toEqual([`${FULLNAME}-audit`]);
    },
  );
});
