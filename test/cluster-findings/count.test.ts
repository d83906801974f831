/**
 * `stsguard_cluster_findings` from the webhook's caches: the cluster source (list+watch against
 * the fake API server) holding the audit cluster, counted as a scrape would.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { countClusterFindings } from "../../src/cluster-findings/count.js";
import { defaultConfig, parseConfig } from "../../src/config/config.js";
import { createNamespaceCache } from "../../src/kube/namespace-cache.js";
import { seedAuditCluster } from "../audit/audit-cluster.js";
import { waitFor } from "../helpers/wait-for.js";
import { startServer, startSource } from "../kube/harness.js";

const NOW = new Date("2026-12-01T12:00:00Z");

function nonZero(counts: ReturnType<typeof countClusterFindings>): string[] {
  return counts
    .filter((c) => c.count > 0)
    .map((c) => `${c.rule} ${c.severity} ${c.count}`)
    .sort();
}

describe("cluster findings counted from the caches", () => {
  it("counts the audit cluster's findings, with a zero series for every other rule and severity", async () => {
    const h = await startSource(await startServer(seedAuditCluster));
    const snapshot = h.source.readSnapshot();
    if (!snapshot) throw new Error("the source has not synced");
    const counts = countClusterFindings(snapshot, defaultConfig, NOW);
    expect(nonZero(counts)).toEqual([
      "governing-service warning 1",
      "ordinal-out-of-range error 2",
      "orphaned-service warning 2",
      "statefulset-not-found warning 1",
    ]);
    expect(counts).toHaveLength(5 * 2);
    // Nothing was read live: the counts come from the caches.
    expect(h.server.readRequests()).toEqual([]);
  });

  it("follows a scale-down from 3 to 1: two orphaned per-pod Services appear", async () => {
    const h = await startSource(await startServer(seedAuditCluster));
    h.server.update("statefulsets", "ns-5", "app-7", (sts) => {
      (sts["spec"] as Record<string, unknown>)["replicas"] = 1;
    });
    await waitFor("the scale-down in the cache", async () => {
      const found = await h.source.lookup("ns-5", "app-7");
      return found.status === "found" && found.statefulSet.replicas === 1;
    });
    const snapshot = h.source.readSnapshot();
    if (!snapshot) throw new Error("the source has not synced");
    expect(nonZero(countClusterFindings(snapshot, defaultConfig, NOW))).toEqual([
      "governing-service warning 1",
      "ordinal-out-of-range error 4",
      "orphaned-service warning 4",
      "statefulset-not-found warning 1",
    ]);
  });

  it("applies exemptions and modes as the webhook does", async () => {
    const h = await startSource(await startServer(seedAuditCluster));
    const snapshot = h.source.readSnapshot();
    if (!snapshot) throw new Error("the source has not synced");
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
      "ordinal-out-of-range warning 2",
      "orphaned-service warning 2",
    ]);
    // One second later the exemption has expired: the errors are back.
    const later = new Date(NOW.getTime() + 1000);
    expect(nonZero(countClusterFindings(snapshot, config, later))).toContain(
      "ordinal-out-of-range error 2",
    );
  });

  it("reads namespace labels from the namespace cache: label rules and label exemptions apply", async () => {
    const h = await startSource(await startServer(seedAuditCluster));
    for (const [name, labels] of [
      ["ns-1", { team: "data" }],
      ["ns-5", { tier: "sandbox" }],
    ] as const) {
      h.server.apply("namespaces", { metadata: { name, labels } });
    }
    const namespaces = createNamespaceCache({
      kubeConfig: h.server.kubeConfig(),
      logger: pino({ level: "silent" }),
    });
    try {
      await namespaces.start();
      const snapshot = h.source.readSnapshot();
      if (!snapshot) throw new Error("the source has not synced");
      const config = parseConfig(
        `labelsMayLowerIn: ["ns-*"]
namespaces:
  - selector: {matchLabels: {tier: sandbox}}
    mode: "off"
exemptions:
  - name: data-team
    reason: "PLAT-2"
    namespaces: ["ns-*"]
    namespaceSelector: {matchLabels: {team: data}}
    rules: [ordinal-out-of-range]
`,
        "stsguard.yaml",
      );
      const labelsOf = (name: string): Readonly<Record<string, string>> | null =>
        namespaces.cachedLabels(name);
      // Without the labels neither rule can match: everything counts as with the defaults.
      expect(nonZero(countClusterFindings(snapshot, config, NOW))).toEqual(
        nonZero(countClusterFindings(snapshot, defaultConfig, NOW)),
      );
      // With them: ns-1's out-of-range errors are lifted to warnings by the exemption.
      expect(nonZero(countClusterFindings(snapshot, config, NOW, labelsOf))).toContain(
        "ordinal-out-of-range warning 2",
      );
      // Scaled down in the sandbox namespace (mode off): nothing more is counted.
      h.server.update("statefulsets", "ns-5", "app-7", (sts) => {
        (sts["spec"] as Record<string, unknown>)["replicas"] = 1;
      });
      await waitFor("the scale-down in the cache", async () => {
        const found = await h.source.lookup("ns-5", "app-7");
        return found.status === "found" && found.statefulSet.replicas === 1;
      });
      const after = h.source.readSnapshot();
      if (!after) throw new Error("the source has not synced");
      expect(nonZero(countClusterFindings(after, config, NOW, labelsOf))).toEqual(
        nonZero(countClusterFindings(snapshot, config, NOW, labelsOf)),
      );
    } finally {
      await namespaces.close();
    }
  });
});
