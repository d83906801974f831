/**
 * The ordinals a StatefulSet may have, from raw objects as manifests and the API server give
 * them: the StatefulSet (replicas set or not, ordinals.start) and the autoscalers beside it,
 * of which only those that really scale it count.
 */
import { describe, expect, it } from "vitest";
import {
  describeOrdinalRange,
  evaluateService,
  evaluateStatefulSetChange,
  findAutoscaler,
  hasOrdinal,
  mergeAutoscalers,
  parsePodTarget,
  possibleOrdinals,
  readAutoscaler,
  summarizeAutoscaler,
  summarizeStatefulSet,
  withAutoscaler,
  withReplicas,
  type AutoscalerSummary,
  type PerPodServiceSummary,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import {
  aScaledObject,
  aService,
  aStatefulSet,
  anHpa,
  deepFreeze,
  type StatefulSetOptions,
} from "../helpers/objects.js";
import { policyWith } from "./engine-inputs.js";

const policy = policyWith();

function hpa(over: Partial<AutoscalerSummary> = {}): AutoscalerSummary {
  return {
    kind: "HorizontalPodAutoscaler",
    namespace: "demo",
    name: "web",
    statefulSet: "web",
    minReplicas: 2,
    maxReplicas: 4,
    hpaName: null,
    ...over,
  };
}

describe("summarizeAutoscaler", () => {
  const rows: readonly { name: string; obj: unknown; expected: AutoscalerSummary | null }[] = [
    { name: "an autoscaling/v2 HPA of StatefulSet web", obj: anHpa(), expected: hpa() },
    {
      name: "autoscaling/v1 spells the same fields",
      obj: anHpa({ apiVersion: "autoscaling/v1" }),
      expected: hpa(),
    },
    {
      name: "autoscaling/v2beta2 too",
      obj: anHpa({ apiVersion: "autoscaling/v2beta2" }),
      expected: hpa(),
    },
    {
      name: "autoscaling/v2beta1 too",
      obj: anHpa({ apiVersion: "autoscaling/v2beta1" }),
      expected: hpa(),
    },
    {
      name: "minReplicas unset defaults to 1",
      obj: anHpa({ min: undefined }),
      expected: hpa({ minReplicas: 1 }),
    },
    {
      name: "minReplicas 0 (HPAScaleToZero) is kept",
      obj: anHpa({ min: 0, max: 3 }),
      expected: hpa({ minReplicas: 0, maxReplicas: 3 }),
    },
    {
      name: "no namespace takes the default namespace",
      obj: anHpa({ namespace: null }),
      expected: hpa({ namespace: "ci" }),
    },
    {
      name: "scaleTargetRef apps/v1beta2 still names the StatefulSet (the group is what counts)",
      obj: anHpa({ target: { apiVersion: "apps/v1beta2", kind: "StatefulSet", name: "web" } }),
      expected: hpa(),
    },
    {
      name: "an HPA of a Deployment does not count",
      obj: anHpa({ target: { apiVersion: "apps/v1", kind: "Deployment", name: "web" } }),
      expected: null,
    },
    {
      name: "an HPA of another group's StatefulSet (OpenKruise) does not count",
      obj: anHpa({
        target: { apiVersion: "apps.kruise.io/v1beta1", kind: "StatefulSet", name: "web" },
      }),
      expected: null,
    },
    {
      name: "scaleTargetRef without apiVersion is the core group, which has no StatefulSet",
      obj: anHpa({ target: { kind: "StatefulSet", name: "web" } }),
      expected: null,
    },
    {
      name: "the kind is case-sensitive",
      obj: anHpa({ target: { apiVersion: "apps/v1", kind: "statefulset", name: "web" } }),
      expected: null,
    },
    {
      name: "an apiVersion with two slashes names no group",
      obj: anHpa({ target: { apiVersion: "apps/v1/x", kind: "StatefulSet", name: "web" } }),
      expected: null,
    },
    {
      name: "scaleTargetRef without a name does not count",
      obj: anHpa({ target: { apiVersion: "apps/v1", kind: "StatefulSet" } }),
      expected: null,
    },
    { name: "maxReplicas is required", obj: anHpa({ max: undefined }), expected: null },
    { name: "maxReplicas 0 is invalid", obj: anHpa({ min: 0, max: 0 }), expected: null },
    { name: "maxReplicas below minReplicas is invalid", obj: anHpa({ max: 1 }), expected: null },
    { name: "maxReplicas as a string is invalid", obj: anHpa({ max: "5" }), expected: null },
    { name: "a fractional maxReplicas is invalid", obj: anHpa({ max: 4.5 }), expected: null },
    { name: "a negative minReplicas is invalid", obj: anHpa({ min: -1 }), expected: null },
    {
      name: "HorizontalPodAutoscaler of another group is not one",
      obj: anHpa({ apiVersion: "example.com/v1" }),
      expected: null,
    },
    {
      name: "a ScaledObject of a StatefulSet, KEDA's defaults: apps/v1, 0–100, keda-hpa-<name>",
      obj: aScaledObject({ target: { kind: "StatefulSet", name: "web" } }),
      expected: hpa({
        kind: "ScaledObject",
        minReplicas: 0,
        maxReplicas: 100,
        hpaName: "keda-hpa-web",
      }),
    },
    {
      name: "a ScaledObject with counts and a renamed HPA",
      obj: (() => {
        const obj = aScaledObject({ min: 3, max: 6 });
        (obj["spec"] as Record<string, unknown>)["advanced"] = {
          horizontalPodAutoscalerConfig: { name: "web-hpa" },
        };
        return obj;
      })(),
      expected: hpa({ kind: "ScaledObject", minReplicas: 3, maxReplicas: 6, hpaName: "web-hpa" }),
    },
    {
      name: "a ScaledObject without a target kind scales a Deployment (KEDA's default)",
      obj: aScaledObject({ target: { name: "web" } }),
      expected: null,
    },
    {
      name: "a ScaledObject whose maxReplicaCount is below minReplicaCount is invalid",
      obj: aScaledObject({ min: 5, max: 3 }),
      expected: null,
    },
    {
      name: "KEDA v1's keda.k8s.io group is not read",
      obj: aScaledObject({ apiVersion: "keda.k8s.io/v1alpha1" }),
      expected: null,
    },
    { name: "a StatefulSet is not an autoscaler", obj: aStatefulSet(), expected: null },
    { name: "null", obj: null, expected: null },
  ];

  it.each(rows)("$name", ({ obj, expected }) => {
    expect(summarizeAutoscaler(deepFreeze(obj), "ci")).toEqual(expected);
  });
});

describe("readAutoscaler: why an autoscaler of a StatefulSet widens nothing", () => {
  it.each([
    { obj: anHpa({ max: undefined }), reason: "maxReplicas is missing", field: "maxReplicas" },
    { obj: anHpa({ max: null }), reason: "maxReplicas is missing", field: "maxReplicas" },
    {
      obj: anHpa({ max: "5" }),
      reason: 'maxReplicas "5" is not a whole number from 1',
      field: "maxReplicas",
    },
    {
      obj: anHpa({ min: 0, max: 0 }),
      reason: "maxReplicas 0 is not a whole number from 1",
      field: "maxReplicas",
    },
    {
      obj: anHpa({ min: -1 }),
      reason: "minReplicas -1 is not a whole number from 0",
      field: "minReplicas",
    },
    {
      obj: anHpa({ max: 1 }),
      reason: "maxReplicas 1 is below minReplicas 2",
      field: "maxReplicas",
    },
    {
      obj: aScaledObject({ min: 5, max: 3 }),
      reason: "maxReplicaCount 3 is below minReplicaCount 5",
      field: "maxReplicaCount",
    },
  ])("$reason", ({ obj, reason, field }) => {
    expect(readAutoscaler(deepFreeze(obj), "demo")).toEqual({
      status: "invalid",
      kind: obj["kind"],
      statefulSet: "web",
      reason,
      path: ["spec", field],
    });
  });

  it("says nothing of an autoscaler of anything else, however invalid", () => {
    const deployment = anHpa({
      max: "5",
      target: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
    });
    expect(readAutoscaler(deployment, "demo")).toEqual({ status: "none" });
  });
});

/** A StatefulSet from a raw object, with the autoscalers among `others` that scale it. */
function statefulSetWith(
  options: StatefulSetOptions,
  others: readonly unknown[],
): StatefulSetSummary {
  const sts = summarizeStatefulSet(deepFreeze(aStatefulSet(options)), "demo");
  if (!sts) throw new Error("not a StatefulSet");
  const autoscalers = others.flatMap((o) => summarizeAutoscaler(deepFreeze(o), "demo") ?? []);
  return withAutoscaler(sts, autoscalers);
}

describe("the ordinals a StatefulSet may have", () => {
  const rows: readonly {
    name: string;
    sts: StatefulSetOptions;
    autoscalers?: readonly unknown[];
    inRange: readonly number[];
    outOfRange: readonly number[];
    text: string;
  }[] = [
    {
      name: "replicas 2, no autoscaler",
      sts: { replicas: 2 },
      inRange: [0, 1],
      outOfRange: [2],
      text: "2 replicas (ordinals 0-1)",
    },
    {
      name: "replicas unset: the default 1, and the message says so",
      sts: { noReplicas: true },
      inRange: [0],
      outOfRange: [1],
      text: "1 replica (ordinal 0), replicas unset (defaults to 1)",
    },
    {
      name: "replicas unset with an HPA 3–5: below maxReplicas",
      sts: { noReplicas: true },
      autoscalers: [anHpa({ min: 3, max: 5 })],
      inRange: [0, 1, 2, 3, 4],
      outOfRange: [5],
      text: "up to 5 replicas (ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler web",
    },
    {
      name: "ordinals.start 10 with an HPA 2–4",
      sts: { replicas: 2, ordinals: { start: 10 } },
      autoscalers: [anHpa()],
      inRange: [10, 11, 12, 13],
      outOfRange: [0, 9, 14],
      text: "up to 4 replicas (ordinals 10-13), autoscaled 2–4 by HorizontalPodAutoscaler web",
    },
    {
      name: "above maxReplicas the pods that exist stay in range until the HPA scales in",
      sts: { replicas: 7 },
      autoscalers: [anHpa()],
      inRange: [0, 6],
      outOfRange: [7],
      text: "7 replicas (ordinals 0-6), autoscaled 2–4 by HorizontalPodAutoscaler web",
    },
    {
      name: "at 0 replicas an HPA with minReplicas above 0 is disabled",
      sts: { replicas: 0 },
      autoscalers: [anHpa()],
      inRange: [],
      outOfRange: [0, 1],
      text: "0 replicas (no pods; autoscaling is off at 0)",
    },
    {
      name: "at 0 replicas an HPA with minReplicas 0 scales from zero",
      sts: { replicas: 0 },
      autoscalers: [anHpa({ min: 0, max: 3 })],
      inRange: [0, 2],
      outOfRange: [3],
      text: "up to 3 replicas (ordinals 0-2), autoscaled 0–3 by HorizontalPodAutoscaler web",
    },
    {
      name: "an HPA in another namespace does not count",
      sts: { replicas: 2 },
      autoscalers: [anHpa({ namespace: "other" })],
      inRange: [0, 1],
      outOfRange: [2, 3],
      text: "2 replicas (ordinals 0-1)",
    },
    {
      name: "an HPA of a Deployment of the same name does not count",
      sts: { replicas: 2 },
      autoscalers: [anHpa({ target: { apiVersion: "apps/v1", kind: "Deployment", name: "web" } })],
      inRange: [0, 1],
      outOfRange: [2, 3],
      text: "2 replicas (ordinals 0-1)",
    },
    {
      name: "an HPA of another group's StatefulSet of the same name does not count",
      sts: { replicas: 2 },
      autoscalers: [
        anHpa({
          target: { apiVersion: "apps.kruise.io/v1beta1", kind: "StatefulSet", name: "web" },
        }),
      ],
      inRange: [0, 1],
      outOfRange: [2, 3],
      text: "2 replicas (ordinals 0-1)",
    },
    {
      name: "an HPA of another StatefulSet does not count",
      sts: { replicas: 2 },
      autoscalers: [anHpa({ target: { apiVersion: "apps/v1", kind: "StatefulSet", name: "db" } })],
      inRange: [0, 1],
      outOfRange: [2],
      text: "2 replicas (ordinals 0-1)",
    },
    {
      name: "an autoscaling/v1 HPA counts",
      sts: { replicas: 2 },
      autoscalers: [anHpa({ apiVersion: "autoscaling/v1", max: 3 })],
      inRange: [2],
      outOfRange: [3],
      text: "up to 3 replicas (ordinals 0-2), autoscaled 2–3 by HorizontalPodAutoscaler web",
    },
    {
      name: "an autoscaling/v2beta2 HPA counts",
      sts: { replicas: 2 },
      autoscalers: [anHpa({ apiVersion: "autoscaling/v2beta2", max: 3 })],
      inRange: [2],
      outOfRange: [3],
      text: "up to 3 replicas (ordinals 0-2), autoscaled 2–3 by HorizontalPodAutoscaler web",
    },
    {
      name: "of two HPAs the one that reaches furthest counts",
      sts: { replicas: 2 },
      autoscalers: [anHpa(), anHpa({ name: "web-burst", min: 1, max: 6 })],
      inRange: [5],
      outOfRange: [6],
      text: "up to 6 replicas (ordinals 0-5), autoscaled 1–6 by HorizontalPodAutoscaler web-burst",
    },
    {
      name: "a KEDA ScaledObject with KEDA's defaults: up to 100",
      sts: { noReplicas: true },
      autoscalers: [aScaledObject()],
      inRange: [99],
      outOfRange: [100],
      text: "up to 100 replicas (ordinals 0-99), autoscaled 0–100 by ScaledObject web",
    },
    {
      name: "a ScaledObject reaching further than an HPA counts",
      sts: { replicas: 3 },
      autoscalers: [anHpa(), aScaledObject({ min: 1, max: 6 })],
      inRange: [5],
      outOfRange: [6],
      text: "up to 6 replicas (ordinals 0-5), autoscaled 1–6 by ScaledObject web",
    },
  ];

  it.each(rows)("$name", ({ sts, autoscalers, inRange, outOfRange, text }) => {
    const summary = statefulSetWith(sts, autoscalers ?? []);
    for (const ordinal of inRange) expect(hasOrdinal(summary, ordinal), `${ordinal}`).toBe(true);
    for (const ordinal of outOfRange) {
      expect(hasOrdinal(summary, ordinal), `${ordinal}`).toBe(false);
    }
    expect(describeOrdinalRange(summary)).toBe(text);
  });

  it("gives the range as numbers, with the autoscaler that set it", () => {
    const summary = statefulSetWith({ replicas: 2, ordinals: { start: 3 } }, [anHpa()]);
    expect(possibleOrdinals(summary)).toEqual({ start: 3, end: 7, autoscaler: hpa() });
    expect(possibleOrdinals(statefulSetWith({ replicas: 2 }, []))).toEqual({
      start: 0,
      end: 2,
      autoscaler: null,
    });
  });

  it("joins without copying a StatefulSet no autoscaler scales", () => {
    const sts = statefulSetWith({ replicas: 2 }, []);
    expect(withAutoscaler(sts, [hpa({ statefulSet: "db" })])).toBe(sts);
  });

  it("cuts a long autoscaler name from a manifest short in messages", () => {
    const sts = statefulSetWith({ replicas: 1 }, [anHpa({ name: "h".repeat(300) })]);
    expect(describeOrdinalRange(sts)).toBe(
      `up to 4 replicas (ordinals 0-3), autoscaled 2–4 by HorizontalPodAutoscaler ${"h".repeat(256)}…(truncated)`,
    );
  });

  it("keeps the autoscaler through a scale", () => {
    const sts = statefulSetWith({ noReplicas: true }, [anHpa()]);
    const scaled = withReplicas(sts, 3);
    expect(scaled.autoscaler).toEqual(hpa());
    expect(scaled.replicasUnset).toBe(false);
    expect(describeOrdinalRange(scaled)).toBe(
      "up to 4 replicas (ordinals 0-3), autoscaled 2–4 by HorizontalPodAutoscaler web",
    );
  });
});

describe("findAutoscaler and mergeAutoscalers", () => {
  it("picks by namespace and StatefulSet name only", () => {
    const list = [hpa({ namespace: "other" }), hpa({ statefulSet: "db" })];
    expect(findAutoscaler({ namespace: "demo", name: "web" }, list)).toBeNull();
    expect(findAutoscaler({ namespace: "other", name: "web" }, list)).toEqual(list[0]);
  });

  it("breaks a tie by kind (an HPA first), then by name", () => {
    const scaled = hpa({ kind: "ScaledObject", name: "a", hpaName: "keda-hpa-a" });
    const list = [scaled, hpa({ name: "z" }), hpa({ name: "b" })];
    expect(findAutoscaler({ namespace: "demo", name: "web" }, list)?.name).toBe("b");
  });

  it("lets the manifests replace the cluster's object of the same kind and name", () => {
    const cluster = [hpa({ maxReplicas: 9 }), hpa({ name: "other-hpa", statefulSet: "db" })];
    const bundle = [hpa({ maxReplicas: 5 })];
    expect(mergeAutoscalers(bundle, cluster)).toEqual([
      hpa({ maxReplicas: 5 }),
      hpa({ name: "other-hpa", statefulSet: "db" }),
    ]);
  });

  it("lets a ScaledObject in the manifests replace the HPA KEDA made for it", () => {
    const kedaHpa = hpa({ name: "keda-hpa-web", maxReplicas: 9 });
    const scaled = hpa({ kind: "ScaledObject", maxReplicas: 5, hpaName: "keda-hpa-web" });
    expect(mergeAutoscalers([scaled], [kedaHpa, hpa({ name: "keda-hpa-db" })])).toEqual([
      scaled,
      hpa({ name: "keda-hpa-db" }),
    ]);
  });
});

function perPod(pod: string): PerPodServiceSummary {
  const target = parsePodTarget(pod);
  if (!target) throw new Error(`bad pod name in test: ${pod}`);
  return { namespace: "demo", name: `${pod}-external`, target };
}

describe("the rules over the range", () => {
  const serviceFindings = (pod: string, sts: StatefulSetSummary): string[] =>
    evaluateService(
      deepFreeze(aService({ podName: pod })),
      { operation: "CREATE", lookup: { status: "found", statefulSet: sts } },
      policy,
    ).findings.map((f) => `${f.rule} ${f.severity}: ${f.message}`);

  it("admits a Service for an ordinal the HPA may reach, without a finding", () => {
    const sts = statefulSetWith({ noReplicas: true }, [anHpa({ min: 3, max: 5 })]);
    for (const pod of ["web-0", "web-3", "web-4"]) expect(serviceFindings(pod, sts)).toEqual([]);
  });

  it("says ordinal-out-of-range beyond maxReplicas, naming the HPA", () => {
    const sts = statefulSetWith({ noReplicas: true }, [anHpa({ min: 3, max: 5 })]);
    expect(serviceFindings("web-5", sts)).toEqual([
      "ordinal-out-of-range error: Service demo/web-5 selects pod web-5, but StatefulSet web has " +
        "up to 5 replicas (ordinals 0-4), autoscaled 3–5 by HorizontalPodAutoscaler web; raise " +
        "maxReplicas of HorizontalPodAutoscaler web or select an ordinal in that range",
    ]);
  });

  it("says a ScaledObject's field is maxReplicaCount", () => {
    const sts = statefulSetWith({ replicas: 1 }, [aScaledObject({ min: 1, max: 2 })]);
    expect(serviceFindings("web-2", sts)).toEqual([
      "ordinal-out-of-range error: Service demo/web-2 selects pod web-2, but StatefulSet web has " +
        "up to 2 replicas (ordinals 0-1), autoscaled 1–2 by ScaledObject web; raise " +
        "maxReplicaCount of ScaledObject web or select an ordinal in that range",
    ]);
  });

  it("says where one replica came from when replicas is unset", () => {
    const sts = statefulSetWith({ noReplicas: true }, []);
    expect(serviceFindings("web-1", sts)).toEqual([
      "ordinal-out-of-range error: Service demo/web-1 selects pod web-1, but StatefulSet web has " +
        "1 replica (ordinal 0), replicas unset (defaults to 1); set spec.replicas or select an " +
        "existing ordinal",
    ]);
  });

  it("keeps the message of a StatefulSet that sets its replicas", () => {
    const sts = statefulSetWith({ replicas: 2 }, [anHpa({ namespace: "other" })]);
    expect(serviceFindings("web-2", sts)).toEqual([
      "ordinal-out-of-range error: Service demo/web-2 selects pod web-2, but StatefulSet web has " +
        "2 replicas (ordinals 0-1); scale it up or select an existing ordinal",
    ]);
  });

  const services = ["web-0", "web-1", "web-2", "web-3", "web-4"].map(perPod);
  const orphans = (sts: StatefulSetSummary): string[] =>
    evaluateStatefulSetChange(sts, services, policy).map((f) => `${f.severity}: ${f.message}`);

  it("orphans nothing the HPA may scale out to again when it scales in", () => {
    const sts = statefulSetWith({ replicas: 4 }, [anHpa({ min: 2, max: 5 })]);
    expect(orphans(withReplicas(sts, 2))).toEqual([]);
    expect(orphans(withReplicas(sts, 5))).toEqual([]);
  });

  it("orphans what lies beyond maxReplicas, naming the HPA", () => {
    const sts = statefulSetWith({ replicas: 3 }, [anHpa()]);
    expect(orphans(withReplicas(sts, 2))).toEqual([
      "warning: StatefulSet demo/web will have up to 4 replicas (ordinals 0-3), autoscaled 2–4 by " +
        "HorizontalPodAutoscaler web, so Service web-4-external selects pod web-4, which will not " +
        "exist; delete that Service or raise maxReplicas",
    ]);
  });

  it("orphans every Service at 0 replicas, where the HPA stops", () => {
    const sts = statefulSetWith({ replicas: 3 }, [anHpa()]);
    const found = orphans(withReplicas(sts, 0));
    expect(found).toHaveLength(5);
    expect(found[0]).toBe(
      "warning: StatefulSet demo/web will have 0 replicas (no pods; autoscaling is off at 0), " +
        "so Service web-0-external selects pod web-0, which will not exist; delete that Service " +
        "or keep enough replicas",
    );
  });

  it("says set spec.replicas to a StatefulSet that leaves it unset", () => {
    const sts = statefulSetWith({ noReplicas: true }, []);
    expect(orphans(sts)[0]).toBe(
      "warning: StatefulSet demo/web will have 1 replica (ordinal 0), replicas unset (defaults " +
        "to 1), so Service web-1-external selects pod web-1, which will not exist; delete that " +
        "Service or set spec.replicas",
    );
  });
});
