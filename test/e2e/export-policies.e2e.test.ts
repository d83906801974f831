/**
 * `stsguard export-policies --kube-version 1.26` (the built CLI) and the chart's policy template
 * (helm --kube-version 1.26.4) applied to a real Kubernetes 1.26 API server: every exported rule
 * admits and denies what the engine does, on CREATE and on UPDATE, with pre-existing violations,
 * StatefulSet names ending in digits and Services that are not per-pod Services; and, since a
 * policy cannot read StatefulSets or autoscalers, no ordinal is ever judged (the range is the
 * webhook's alone).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { evaluateService } from "../../src/policy/index.js";
import type { SelfContainedRule } from "../../src/policy-export/index.js";
import { policyWith, unavailable } from "../policy/engine-inputs.js";
import { renderFor126 } from "./support/chart.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import {
  deletePolicies,
  serviceApi,
  serviceOf,
  waitUntilAdmitted,
  waitUntilDenied,
  type Answer,
  type Api,
  type ApiObject,
} from "./support/policies.js";
import {
  CREATE_CASES,
  STORED,
  UPDATE_CASES,
  storedObjects,
  type MutableService,
} from "./support/policy-cases.js";
import { runCli } from "./support/stsguard.js";

const NS = "apps";
const RULES: readonly SelfContainedRule[] = [
  "malformed-pod-name",
  "external-traffic-policy",
  "missing-labels",
];
/** A Service each rule's policy denies, alone. */
const PROBES: Readonly<Record<SelfContainedRule, ApiObject>> = {
  "malformed-pod-name": serviceOf({ name: "probe", podName: "probe-01", labels: null }),
  "external-traffic-policy": serviceOf({ name: "probe-0", externalTrafficPolicy: "Cluster" }),
  "missing-labels": serviceOf({ name: "probe-0", labels: null }),
};

let cluster: Cluster | undefined;
let api: Api | undefined;
let k8s: Cluster;
let client: Api;

beforeAll(async () => {
  k8s = cluster = await startCluster();
  client = api = serviceApi(k8s);
  await k8s.createNamespace(NS);
  // Stored before any policy: some already break a rule.
  for (const object of storedObjects()) {
    const answer = await client.create(NS, object, { dryRun: false });
    expect(answer.kind).toBe("admitted");
  }
});

afterAll(async () => {
  api?.close();
  await cluster?.stop();
});

interface Installed {
  /** The static message of each rule's policy. */
  readonly messages: ReadonlyMap<string, string>;
  /** Policy name → rule. */
  readonly rules: ReadonlyMap<string, SelfContainedRule>;
}

/** Applies the ValidatingAdmissionPolicies and bindings and waits until each binding is in force. */
async function install(objects: readonly ApiObject[], namePrefix: string): Promise<Installed> {
  await k8s.apply(objects);
  const messages = new Map<string, string>();
  const rules = new Map<string, SelfContainedRule>();
  for (const object of objects.filter((o) => o["kind"] === "ValidatingAdmissionPolicy")) {
    const name = (object["metadata"] as { name: string }).name;
    const rule = RULES.find((r) => name === `${namePrefix}-${r}`);
    if (!rule) throw new Error(`unexpected policy ${name}`);
    const validations = (object["spec"] as { validations: { message: string }[] }).validations;
    expect(validations).toHaveLength(1);
    messages.set(name, validations[0]?.message ?? "");
    rules.set(name, rule);
  }
  expect([...rules.values()].sort()).toEqual([...RULES].sort());
  for (const [name, rule] of rules) await waitUntilDenied(client, NS, PROBES[rule], name);
  return { messages, rules };
}

/** The engine's verdict: the rules that error, the StatefulSet unknown, on 1.26. */
function engineDenies(
  service: ApiObject,
  operation: "CREATE" | "UPDATE",
  old?: ApiObject,
): string[] {
  const result = evaluateService(
    service,
    { operation, lookup: unavailable, namespace: NS, ...(old ? { oldService: old } : {}) },
    policyWith({ kubeVersion: "1.26" }),
  );
  return result.findings
    .filter((f) => f.severity === "error" && (RULES as readonly string[]).includes(f.rule))
    .map((f) => f.rule)
    .sort();
}

/**
 * Checks one answer: admitted when no rule denies; else denied with 403 Forbidden by the policy
 * of one of the rules (1.26 reports the first denying policy only), with that policy's message.
 */
function expectVerdict(
  answer: Answer,
  denies: readonly SelfContainedRule[],
  installed: Installed,
  what: string,
): void {
  if (denies.length === 0) {
    expect({ what, answer: answer.kind === "admitted" ? "admitted" : answer }).toEqual({
      what,
      answer: "admitted",
    });
    return;
  }
  if (answer.kind !== "denied") {
    expect.fail(
      `${what}: expected a denial by ${denies.join(" or ")}, got ${JSON.stringify(answer)}`,
    );
  }
  const rule = installed.rules.get(answer.policy);
  expect({ what, rule: denies.includes(rule as SelfContainedRule) }).toEqual({ what, rule: true });
  expect({ what, status: answer.status, reason: answer.reason, binding: answer.binding }).toEqual({
    what,
    status: 403,
    reason: "Forbidden",
    binding: answer.policy,
  });
  expect(answer.message).toBe(installed.messages.get(answer.policy));
}

function uniqueName(base: string, index: number): string {
  return `${base.slice(0, 50)}-c${index}`;
}

/** Every CREATE and UPDATE case against what is installed now. */
async function runCases(installed: Installed): Promise<void> {
  const creates = CREATE_CASES.map((c, i) => {
    const podName = c.service.podName === undefined ? c.service.name : c.service.podName;
    const object = serviceOf({ ...c.service, podName, name: uniqueName(c.service.name, i) });
    return { c, object };
  });
  for (const { c, object } of creates) {
    expect({ case: c.name, engine: engineDenies(object, "CREATE") }).toEqual({
      case: c.name,
      engine: [...c.denies].sort(),
    });
  }
  const createAnswers = await Promise.all(creates.map(({ object }) => client.create(NS, object)));
  creates.forEach(({ c }, i) => {
    expectVerdict(createAnswers[i] as Answer, c.denies, installed, `CREATE ${c.name}`);
  });

  const updates = await Promise.all(
    UPDATE_CASES.map(async (u) => {
      const stored = await client.get(NS, u.stored);
      if (!stored) throw new Error(`stored Service ${u.stored} is gone`);
      const next = structuredClone(stored) as unknown as MutableService;
      u.change(next);
      return { u, stored, next: next as unknown as ApiObject };
    }),
  );
  for (const { u, stored, next } of updates) {
    expect({ case: u.name, engine: engineDenies(next, "UPDATE", stored) }).toEqual({
      case: u.name,
      engine: [...u.denies].sort(),
    });
  }
  const updateAnswers = await Promise.all(updates.map(({ next }) => client.replace(NS, next)));
  updates.forEach(({ u }, i) => {
    expectVerdict(updateAnswers[i] as Answer, u.denies, installed, `UPDATE ${u.name}`);
  });
}

/** A StatefulSet the HorizontalPodAutoscaler owns (no replicas), scaled 3 to 5. */
const AUTOSCALED = [
  {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "kafka", namespace: NS },
    spec: {
      serviceName: "kafka",
      selector: { matchLabels: { app: "kafka" } },
      template: {
        metadata: { labels: { app: "kafka" } },
        spec: { containers: [{ name: "kafka", image: "kafka" }] },
      },
    },
  },
  {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: "kafka", namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: "kafka" },
      minReplicas: 3,
      maxReplicas: 5,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ],
    },
  },
];

let exportedObjects: ApiObject[] = [];

describe("stsguard export-policies --kube-version 1.26 on the real API server", () => {
  let installed: Installed;

  beforeAll(async () => {
    const exported = await runCli(["export-policies", "--kube-version", "1.26"]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toContain(
      "stsguard: note: on Kubernetes 1.26, ValidatingAdmissionPolicy v1alpha1 needs the feature gate",
    );
    const objects = parseAllDocuments(exported.stdout)
      .map((doc) => doc.toJS() as ApiObject | null)
      .filter((o): o is ApiObject => o !== null);
    expect(objects.map((o) => `${String(o["apiVersion"])} ${String(o["kind"])}`)).toEqual(
      RULES.flatMap(() => [
        "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBinding",
      ]),
    );
    exportedObjects = objects;
    installed = await install(objects, "stsguard");
  });

  it("admits and denies every case as the engine does, on CREATE and UPDATE", async () => {
    await runCases(installed);
  });

  it("admits the LoadBalancer web-1 with Local and both labels (the 1.26 failure), and stores it", async () => {
    const answer = await client.create(NS, serviceOf({ name: "web-1" }), { dryRun: false });
    expect(answer.kind).toBe("admitted");
    const stored = await client.get(NS, "web-1");
    expect(stored?.["metadata"]).toMatchObject({
      labels: { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": "1" },
    });
  });

  it("judges no ordinal: an autoscaled StatefulSet's Services below and beyond maxReplicas pass", async () => {
    await k8s.apply(AUTOSCALED);
    const answers = await Promise.all(
      [0, 1, 2, 3, 4, 5, 9].map((ordinal) =>
        client.create(NS, serviceOf({ name: `kafka-${ordinal}` })),
      ),
    );
    expect(answers.map((a) => a.kind)).toEqual(Array(7).fill("admitted"));
  });

  it("prints the same policies as the chart renders for 1.26, but for names, labels and namespaces", () => {
    const specs = (objects: readonly ApiObject[], prefix: string): unknown[] =>
      objects
        .filter((o) => o["kind"] === "ValidatingAdmissionPolicy")
        .map((o) => ({
          name: (o["metadata"] as { name: string }).name.slice(prefix.length),
          spec: o["spec"],
        }));
    expect(specs(chartPolicies(), "guard-stsguard-")).toEqual(specs(exportedObjects, "stsguard-"));
  });
});

function chartPolicies(): ApiObject[] {
  return renderFor126({ admissionPolicies: { enabled: true } })
    .filter(
      (o) =>
        o.kind === "ValidatingAdmissionPolicy" || o.kind === "ValidatingAdmissionPolicyBinding",
    )
    .map((o) => o as unknown as ApiObject);
}

describe("the chart's admission-policies template (helm --kube-version 1.26.4) on the real API server", () => {
  let installed: Installed;

  beforeAll(async () => {
    await deletePolicies(k8s, "app.kubernetes.io/part-of=stsguard");
    for (const rule of RULES) await waitUntilAdmitted(client, NS, PROBES[rule]);
    const objects = chartPolicies();
    // helm orders by kind.
    expect(objects.map((o) => `${String(o["apiVersion"])} ${String(o["kind"])}`).sort()).toEqual(
      RULES.flatMap(() => [
        "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBinding",
      ]).sort(),
    );
    installed = await install(objects, "guard-stsguard");
  });

  it("admits and denies every case as the engine does, on CREATE and UPDATE", async () => {
    await runCases(installed);
  });

  it("keeps the stored Services that broke a rule before it was installed", async () => {
    for (const { name } of STORED) expect(await client.get(NS, name)).not.toBeNull();
  });
});
