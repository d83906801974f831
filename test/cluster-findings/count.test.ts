/**
 * `stsguard_cluster_findings` counted from a snapshot of the webhook's caches: exemptions (with
 * the clock they expire by), modes and namespace labels, as the webhook decides them. The
 * snapshot is built from the audit cluster's objects here, each StatefulSet joined with the HPA
 * that scales it as the cluster source joins them; that serve's gauge counts a real cluster from
 * its list+watch caches, as audit does, and follows a scale and an HPA's maxReplicas, is proven
 * against a real API server in test/e2e/audit.e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import { countClusterFindings } from "../../src/cluster-findings/count.js";
import { defaultConfig, parseConfig } from "../../src/config/config.js";
import type { ClusterSnapshot } from "../../src/kube/cluster-source.js";
import {
  summarizeAutoscaler,
  summarizePerPodService,
  summarizeService,
  summarizeStatefulSet,
  withAutoscaler,
  type AutoscalerSummary,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import { auditClusterObjects } from "../audit/audit-cluster.js";

const NOW = new Date("2026-12-01T12:00:00Z");

const namespaceOf = (object: Record<string, unknown>): string =>
  (object["metadata"] as { namespace: string }).namespace;

/** What the caches would hold for these objects: each StatefulSet joined with its HPA. */
function snapshotOf(objects: ReturnType<typeof auditClusterObjects>): ClusterSnapshot {
  const autoscalers = objects.autoscalers
    .map((hpa) => summarizeAutoscaler(hpa, namespaceOf(hpa)))
    .filter((hpa): hpa is AutoscalerSummary => hpa !== null);
  return {
    statefulSets: objects.statefulSets
      .map((sts) => summarizeStatefulSet(sts, namespaceOf(sts)))
      .filter((sts): sts is StatefulSetSummary => sts !== null)
      .map((sts) =>
        withAutoscaler(
          sts,
          autoscalers.filter((hpa) => hpa.namespace === sts.namespace),
        ),
      ),
    services: objects.services.flatMap((svc) => {
      const service = summarizeService(svc, namespaceOf(svc));
      return service ? [{ service, perPod: summarizePerPodService(svc, namespaceOf(svc)) }] : [];
    }),
  };
}

function nonZero(counts: ReturnType<typeof countClusterFindings>): string[] {
  return counts
    .filter((c) => c.count > 0)
    .map((c) => `${c.rule} ${c.severity} ${c.count}`)
    .sort();
}

describe("cluster findings counted from the caches", () => {
  const snapshot = snapshotOf(auditClusterObjects());

  it("counts the audit cluster's findings, with a zero series for every other rule and severity", () => {
    const counts = countClusterFindings(snapshot, defaultConfig, NOW);
    // As audit counts them: ns-5/app-3, scaled in by its HPA, adds nothing; ns-6/app-4-2 lies
    // beyond its HPA's maxReplicas; the HPA of a Deployment ns-7/app-5 widens nothing.
    expect(nonZero(counts)).toEqual([
      "governing-service warning 1",
      "ordinal-out-of-range error 4",
      "orphaned-service warning 4",
      "statefulset-not-found warning 1",
    ]);
    expect(counts).toHaveLength(5 * 2);
  });

  it("follows an HPA's maxReplicas: raised to 3, ns-6/app-4-2 is within reach again", () => {
    const objects = auditClusterObjects();
    const hpa = objects.autoscalers.find(
      (a) => namespaceOf(a) === "ns-6" && (a["metadata"] as { name: string }).name === "app-4",
    );
    (hpa?.["spec"] as Record<string, unknown>)["maxReplicas"] = 3;
    expect(nonZero(countClusterFindings(snapshotOf(objects), defaultConfig, NOW))).toEqual([
      "governing-service warning 1",
      "ordinal-out-of-range error 3",
      "orphaned-service warning 3",
      "statefulset-not-found warning 1",
    ]);
  });

  it("applies exemptions and modes as the webhook does", () => {
    const config = parseConfig(
      `namespaces:
  - names: [ns-2]
    mode: "off"
exemptions:
  - name: shrink
    reason: "PLAT-1"
    expires: "2026-12-01T12:00:01Z"
    namespaces: [ns-1]
    rules: [ordinal-out-of-range]
`,
      "stsguard.yaml",
    );
    expect(nonZero(countClusterFindings(snapshot, config, NOW))).toEqual([
      "governing-service warning 1",
      "ordinal-out-of-range error 2",
      "ordinal-out-of-range warning 2",
      "orphaned-service warning 4",
    ]);
    // One second later the exemption has expired: the errors are back.
    const later = new Date(NOW.getTime() + 1000);
    expect(nonZero(countClusterFindings(snapshot, config, later))).toContain(
      "ordinal-out-of-range error 4",
    );
  });

  it("reads namespace labels: label rules and label exemptions apply", () => {
    const labels: Record<string, Record<string, string>> = {
      "ns-1": { team: "data" },
      "ns-5": { tier: "sandbox" },
    };
    const labelsOf = (name: string): Readonly<Record<string, string>> | null => labels[name] ?? {};
    const config = parseConfig(
      `labelsMayLowerIn: ["ns-*"]
namespaces:
  - selector: {matchLabels: {tier: sandbox}}
    mode: "off"
exemptions:
  - name: data-team
    reason: "PLAT-2"
    namespaces: [ns-1]
    namespaceSelector: {matchLabels: {team: data}}
    rules: [ordinal-out-of-range]
`,
      "stsguard.yaml",
    );
    // Without the labels neither rule can match: everything counts as with the defaults.
    expect(nonZero(countClusterFindings(snapshot, config, NOW))).toEqual(
      nonZero(countClusterFindings(snapshot, defaultConfig, NOW)),
    );
    // With them: ns-1's out-of-range errors are lifted to warnings by the exemption.
    expect(nonZero(countClusterFindings(snapshot, config, NOW, labelsOf))).toContain(
      "ordinal-out-of-range warning 2",
    );
    // Scaled down in the sandbox namespace (mode off): nothing more is counted.
    const objects = auditClusterObjects();
    const scaled = objects.statefulSets.find(
      (sts) =>
        namespaceOf(sts) === "ns-5" && (sts["metadata"] as { name: string }).name === "app-7",
    );
    (scaled?.["spec"] as Record<string, unknown>)["replicas"] = 1;
    expect(nonZero(countClusterFindings(snapshotOf(objects), config, NOW, labelsOf))).toEqual(
      nonZero(countClusterFindings(snapshot, config, NOW, labelsOf)),
    );
  });
});
