import { describe, expect, it } from "vitest";
import {
  evaluateStatefulSetChange,
  parsePodTarget,
  summarizeStatefulSet,
  withReplicas,
  type PerPodServiceSummary,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import { aStatefulSet, deepFreeze, loadFixture } from "../helpers/objects.js";
import { aSummary, policyWith, type PolicyOverrides } from "./engine-inputs.js";

/** A per-pod Service summary named like the pod it selects. */
function perPod(pod: string, namespace = "demo"): PerPodServiceSummary {
  const target = parsePodTarget(pod);
  if (!target) throw new Error(`bad pod name in test: ${pod}`);
  return { namespace, name: `${pod}-external`, target };
}

interface Row {
  readonly name: string;
  readonly sts: StatefulSetSummary;
  readonly services: readonly PerPodServiceSummary[];
  readonly config?: PolicyOverrides;
  /** Names of the orphaned Services, in input order. */
  readonly orphaned: readonly string[];
  readonly severity?: "error" | "warning";
  readonly messages?: readonly string[];
}

const webServices = ["web-0", "web-1", "web-2"].map((pod) => perPod(pod));

const rows: readonly Row[] = [
  {
    name: "scale-down from 3 to 1 orphans web-1 and web-2",
    sts: withReplicas(aSummary({ replicas: 3 }), 1),
    services: webServices,
    orphaned: ["web-1-external", "web-2-external"],
    severity: "warning",
    messages: ["StatefulSet demo/web will have 1 replica (ordinal 0)", "pod web-2"],
  },
  {
    name: "replicas 3 orphans nothing",
    sts: aSummary({ replicas: 3 }),
    services: webServices,
    orphaned: [],
  },
  {
    name: "scale to 0 orphans every per-pod Service",
    sts: aSummary({ replicas: 0 }),
    services: webServices,
    orphaned: ["web-0-external", "web-1-external", "web-2-external"],
    messages: ["0 replicas (no pods)"],
  },
  {
    name: "ordinals.start 5 with 2 replicas orphans db-4 and db-7, keeps db-5 and db-6",
    sts: aSummary({ name: "db", start: 5 }),
    services: ["db-4", "db-5", "db-6", "db-7"].map((pod) => perPod(pod)),
    orphaned: ["db-4-external", "db-7-external"],
    messages: ["ordinals 5-6"],
  },
  {
    name: "Services in another namespace are ignored",
    sts: aSummary({ replicas: 1 }),
    services: [perPod("web-5", "other")],
    orphaned: [],
  },
  {
    name: "Services of other StatefulSets (redis-2, web) are ignored by StatefulSet redis",
    sts: aSummary({ name: "redis", replicas: 1 }),
    services: [perPod("redis-2-0"), perPod("redis-2-3"), perPod("web-4")],
    orphaned: [],
  },
  {
    name: "StatefulSet redis-2 sees its own Services",
    sts: aSummary({ name: "redis-2", replicas: 1 }),
    services: [perPod("redis-2-0"), perPod("redis-2-3"), perPod("redis-3")],
    orphaned: ["redis-2-3-external"],
  },
  {
    name: "severity error",
    sts: aSummary({ replicas: 1 }),
    services: webServices,
    config: { severities: { "orphaned-service": "error" } },
    orphaned: ["web-1-external", "web-2-external"],
    severity: "error",
  },
  {
    name: "severity off",
    sts: aSummary({ replicas: 1 }),
    services: webServices,
    config: { severities: { "orphaned-service": "off" } },
    orphaned: [],
  },
];

describe("evaluateStatefulSetChange", () => {
  it.each(rows)("$name", ({ sts, services, config, orphaned, severity, messages }) => {
    const findings = evaluateStatefulSetChange(
      deepFreeze(sts),
      deepFreeze(services),
      policyWith(config),
    );
    expect(findings.map((f) => f.message.match(/Service (\S+) selects/)?.[1])).toEqual(orphaned);
    for (const finding of findings) {
      expect(finding.rule).toBe("orphaned-service");
      expect(finding.severity).toBe(severity ?? "warning");
      expect(finding.fixable).toBe(false);
      expect(finding.path).toEqual(["spec", "replicas"]);
    }
    const text = findings.map((f) => f.message).join("\n");
    for (const part of messages ?? []) expect(text).toContain(part);
  });

  it("finds the orphan a recorded scale (2 → 1) would leave", () => {
    const scale = loadFixture("statefulset-scale-update.at-mutating").request.object as {
      spec: { replicas: number };
    };
    const sts = summarizeStatefulSet(aStatefulSet({ replicas: 2 }), "demo");
    expect(sts).not.toBeNull();
    const findings = evaluateStatefulSetChange(
      withReplicas(sts as StatefulSetSummary, scale.spec.replicas),
      [perPod("web-0"), perPod("web-1")],
      policyWith(),
    );
    expect(findings.map((f) => f.message)).toEqual([
      expect.stringContaining("Service web-1-external selects pod web-1"),
    ]);
  });
});
