/**
 * The engine and the real Kubernetes 1.26 API server, running the policies `export-policies`
 * exports for 1.26, judge the same generated Services and agree on every one (the unit-level
 * twin, test/policy-export/differential.test.ts, runs the CEL in JavaScript).
 *
 * Nothing generated is stored: every verdict is a dry-run create or update. Each Service goes to
 * - `d-plain`, with no policy: validation's answer, and the object as admission sees it (defaults
 *   applied), which the engine judges as the webhook would;
 * - one namespace per rule of configuration A (the defaults), whose binding selects only that
 *   namespace: the exact set of rules that deny;
 * - one namespace each for configurations B and C with all their policies: denied or not, and by
 *   one of the rules the engine names (1.26 reports the first denying policy only).
 * UPDATEs go to Services stored before the bindings selected their namespaces, so the old object
 * may already break a rule.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import { evaluateService, type PolicyConfig } from "../../src/policy/index.js";
import { exportAdmissionPolicies, type SelfContainedRule } from "../../src/policy-export/index.js";
import { policyWith, unavailable } from "../policy/engine-inputs.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import { generateServices, generateUpdates } from "./support/generated-services.js";
import {
  mapConcurrently,
  serviceApi,
  serviceOf,
  waitUntilDenied,
  type Answer,
  type Api,
  type ApiObject,
} from "./support/policies.js";

const CREATES = 1200;
const UPDATES = 200;
const CONCURRENCY = 16;
/** `e2e.stsguard.io/<setup>-<rule>: judge` puts a namespace under that rule's binding. */
const judgeLabel = (setup: Setup, rule: SelfContainedRule): string =>
  `e2e.stsguard.io/${setup.id}-${rule}`;
const PLAIN = "d-plain";

const RULES: readonly SelfContainedRule[] = [
  "malformed-pod-name",
  "external-traffic-policy",
  "missing-labels",
];

interface Setup {
  readonly id: string;
  readonly config: PolicyConfig;
  /** One namespace per rule (exact verdicts), or one for all (denied or not). */
  readonly perRule: boolean;
}

const SETUPS: readonly Setup[] = [
  { id: "a", config: policyWith({ kubeVersion: "1.26" }), perRule: true },
  {
    id: "b",
    config: policyWith({
      kubeVersion: "1.26",
      labelPrefix: "acme.example",
      extraLabels: [
        { key: "example.com/owner", value: "platform" },
        { key: "example.com/team", fromStatefulSetLabel: "team" },
      ],
      preexistingViolations: "enforce",
    }),
    perRule: false,
  },
  {
    id: "c",
    config: policyWith({
      kubeVersion: "1.26",
      severities: { "malformed-pod-name": "warning" },
      extraLabels: [{ key: "app", value: "web" }],
    }),
    perRule: false,
  },
];

/** Where a setup's Services are judged: namespace → the rules whose bindings select it. */
interface Judge {
  readonly setup: Setup;
  readonly namespace: string;
  readonly rules: readonly SelfContainedRule[];
}

/** The policy name of a rule in a setup. */
const policyName = (setup: Setup, rule: SelfContainedRule): string =>
  `${setup.id}-stsguard-${rule}`;

function exportedRules(setup: Setup): SelfContainedRule[] {
  return RULES.filter((rule) => setup.config.severities[rule] === "error");
}

function judgesOf(setup: Setup): Judge[] {
  const rules = exportedRules(setup);
  return setup.perRule
    ? rules.map((rule) => ({ setup, namespace: `d-${setup.id}-${rule}`, rules: [rule] }))
    : [{ setup, namespace: `d-${setup.id}`, rules }];
}

const JUDGES: readonly Judge[] = SETUPS.flatMap(judgesOf);

/** The 1.26 export, renamed per setup, each binding selecting its judges' namespaces. */
function policiesFor(setup: Setup): ApiObject[] {
  const { objects } = exportAdmissionPolicies(setup.config, {
    kubeVersion: parseKubeVersion("1.26"),
  });
  return objects.map((object) => {
    const copy = structuredClone(object) as ApiObject & {
      metadata: { name: string };
      spec: Record<string, unknown>;
    };
    const rule = RULES.find((r) => copy.metadata.name === `stsguard-${r}`);
    if (!rule) throw new Error(`unexpected object ${copy.metadata.name}`);
    copy.metadata.name = policyName(setup, rule);
    if (copy["kind"] === "ValidatingAdmissionPolicyBinding") {
      copy.spec["policyName"] = policyName(setup, rule);
      copy.spec["matchResources"] = {
        namespaceSelector: { matchLabels: { [judgeLabel(setup, rule)]: "judge" } },
      };
    }
    return copy;
  });
}

/** Labels that put a namespace under the bindings of its rules. */
function judgeLabels(judge: Judge): Record<string, string> {
  return Object.fromEntries(judge.rules.map((rule) => [judgeLabel(judge.setup, rule), "judge"]));
}

/** A Service only `rule` denies under `setup`'s configuration: to wait for its binding. */
function probeFor(setup: Setup, rule: SelfContainedRule): ApiObject {
  const prefix = setup.config.labelPrefix;
  const fixed = Object.fromEntries(
    setup.config.extraLabels.flatMap((e) => ("value" in e ? [[e.key, e.value]] : [])),
  );
  const own = { [`${prefix}/statefulset`]: "probe", [`${prefix}/ordinal`]: "0" };
  switch (rule) {
    case "malformed-pod-name":
      return serviceOf({ name: "probe", podName: "probe-01", labels: fixed });
    case "external-traffic-policy":
      return serviceOf({
        name: "probe-0",
        labels: { ...own, ...fixed },
        externalTrafficPolicy: "Cluster",
      });
    case "missing-labels":
      return serviceOf({ name: "probe-0", labels: {} });
  }
}

/** The rules the engine finds as errors, on 1.26, with the StatefulSet unknown. */
function engineErrors(
  config: PolicyConfig,
  object: ApiObject,
  namespace: string,
  old: ApiObject | undefined,
): SelfContainedRule[] {
  const { findings } = evaluateService(
    object,
    {
      operation: old ? "UPDATE" : "CREATE",
      lookup: unavailable,
      namespace,
      ...(old ? { oldService: old } : {}),
    },
    config,
  );
  return RULES.filter((rule) => findings.some((f) => f.rule === rule && f.severity === "error"));
}

interface Disagreement {
  readonly operation: "CREATE" | "UPDATE";
  readonly setup: string;
  readonly namespace: string;
  readonly service: ApiObject;
  readonly old?: ApiObject;
  readonly engine: readonly string[];
  readonly apiServer: Answer;
}

function describeAnswer(answer: Answer): string {
  switch (answer.kind) {
    case "admitted":
      return "admitted";
    case "denied":
      return `denied by ${answer.policy}: ${answer.message}`;
    case "refused":
      return `refused ${answer.status} ${answer.reason}: ${answer.message}`;
  }
}

let cluster: Cluster | undefined;
let api: Api | undefined;
let k8s: Cluster;
let client: Api;
/** The old objects of the UPDATEs as generated, and as stored in each namespace. */
const olds = generateServices("u", UPDATES, 7_000);
const stored = new Map<string, ApiObject[]>();
/** Static messages by policy name. */
const messages = new Map<string, string>();

const NAMESPACES = [PLAIN, ...JUDGES.map((j) => j.namespace)];

beforeAll(async () => {
  k8s = cluster = await startCluster();
  client = api = serviceApi(k8s);
  // Namespaces without their judge label: the bindings select none of them yet.
  await k8s.apply(
    NAMESPACES.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })),
  );
  const policies = SETUPS.flatMap(policiesFor);
  for (const policy of policies.filter((p) => p["kind"] === "ValidatingAdmissionPolicy")) {
    const validations = (policy["spec"] as { validations: { message: string }[] }).validations;
    messages.set((policy["metadata"] as { name: string }).name, validations[0]?.message ?? "");
  }
  await k8s.apply(policies);
  // The old objects of the UPDATEs, stored in every namespace while no policy judges there.
  for (const namespace of NAMESPACES) {
    const answers = await mapConcurrently(olds, CONCURRENCY, (o) =>
      client.create(namespace, o, { dryRun: false }),
    );
    stored.set(
      namespace,
      answers.flatMap((a) => (a.kind === "admitted" ? [a.object] : [])),
    );
  }
  // Now each judge's namespace gets its label, and each binding is waited for.
  await k8s.apply(
    JUDGES.map((judge) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: judge.namespace, labels: judgeLabels(judge) },
    })),
  );
  for (const judge of JUDGES) {
    for (const rule of judge.rules) {
      await waitUntilDenied(
        client,
        judge.namespace,
        probeFor(judge.setup, rule),
        policyName(judge.setup, rule),
      );
    }
  }
}, 240_000);

afterAll(async () => {
  api?.close();
  await cluster?.stop();
});

/**
 * Compares one judge's answer with the engine. Per-rule namespaces: denied exactly when the
 * engine names that rule, with the policy's message. Combined ones: denied exactly when the
 * engine names any rule, by one of them.
 */
function disagrees(judge: Judge, engine: readonly SelfContainedRule[], answer: Answer): boolean {
  const expected = engine.filter((rule) => judge.rules.includes(rule));
  if (expected.length === 0) return answer.kind !== "admitted";
  if (answer.kind !== "denied") return true;
  const rule = RULES.find((r) => answer.policy === policyName(judge.setup, r));
  return (
    rule === undefined ||
    !expected.includes(rule) ||
    answer.status !== 403 ||
    answer.message !== messages.get(answer.policy)
  );
}

interface Tally {
  compared: number;
  refused: number;
  admitted: number;
  denied: Record<string, number>;
}

function report(disagreements: readonly Disagreement[], tally: Tally): string {
  const shown = disagreements
    .slice(0, 10)
    .map((d) =>
      [
        `${d.operation} in ${d.namespace} (configuration ${d.setup}):`,
        `  Service: ${JSON.stringify(d.service)}`,
        ...(d.old ? [`  stored: ${JSON.stringify(d.old)}`] : []),
        `  engine denies: ${d.engine.length === 0 ? "nothing" : d.engine.join(", ")}`,
        `  API server: ${describeAnswer(d.apiServer)}`,
      ].join("\n"),
    );
  return `${disagreements.length} disagreements (of ${tally.compared} verdicts):\n${shown.join("\n")}`;
}

async function judgeAll(
  operation: "CREATE" | "UPDATE",
  services: readonly ApiObject[],
  send: (namespace: string, service: ApiObject) => Promise<Answer>,
  oldIn: (namespace: string, name: string) => ApiObject | undefined,
  engineConfig: (judge: Judge) => PolicyConfig = (judge) => judge.setup.config,
): Promise<{ disagreements: Disagreement[]; tally: Tally }> {
  const disagreements: Disagreement[] = [];
  const tally: Tally = { compared: 0, refused: 0, admitted: 0, denied: {} };
  await mapConcurrently(services, CONCURRENCY, async (service) => {
    const name = (service["metadata"] as { name: string }).name;
    const plain = await send(PLAIN, service);
    const answers = await Promise.all(JUDGES.map((judge) => send(judge.namespace, service)));
    if (plain.kind !== "admitted") {
      // Validation refused it: no admission policy ran, so every namespace must refuse it alike.
      tally.refused += 1;
      JUDGES.forEach((judge, i) => {
        const answer = answers[i] as Answer;
        // The same status and reason; the message lists the errors in no fixed order.
        if (
          answer.kind !== "refused" ||
          answer.status !== plain.status ||
          answer.reason !== plain.reason
        ) {
          disagreements.push({
            operation,
            setup: judge.setup.id,
            namespace: judge.namespace,
            service,
            engine: [`(validation: ${describeAnswer(plain)})`],
            apiServer: answer,
          });
        }
      });
      return;
    }
    JUDGES.forEach((judge, i) => {
      const answer = answers[i] as Answer;
      const old = oldIn(judge.namespace, name);
      const engine = engineErrors(engineConfig(judge), plain.object, judge.namespace, old);
      tally.compared += 1;
      if (answer.kind === "admitted") tally.admitted += 1;
      if (answer.kind === "denied") {
        const rule = answer.policy.replace(/^[a-z]-stsguard-/, "");
        tally.denied[rule] = (tally.denied[rule] ?? 0) + 1;
      }
      if (disagrees(judge, engine, answer)) {
        disagreements.push({
          operation,
          setup: judge.setup.id,
          namespace: judge.namespace,
          service: plain.object,
          ...(old ? { old } : {}),
          engine,
          apiServer: answer,
        });
      }
    });
  });
  return { disagreements, tally };
}

describe("the engine and the real API server judge the same generated Services alike", () => {
  it(`agree on ${CREATES} generated Services created in every configuration`, async () => {
    const services = generateServices("g", CREATES, 1_000);
    const { disagreements, tally } = await judgeAll(
      "CREATE",
      services,
      (namespace, service) => client.create(namespace, service),
      () => undefined,
    );
    expect(disagreements, report(disagreements, tally)).toEqual([]);
    // The generated Services reach every verdict often.
    expect(tally.compared).toBeGreaterThanOrEqual(CREATES * JUDGES.length * 0.8);
    expect(tally.refused).toBeGreaterThan(20);
    expect(tally.refused).toBeLessThan(CREATES * 0.2);
    expect(tally.admitted).toBeGreaterThan(1000);
    for (const rule of RULES) expect(tally.denied[rule] ?? 0).toBeGreaterThan(100);
  });

  it(`agree on ${UPDATES} generated UPDATEs of stored Services, some of which already broke a rule`, async () => {
    expect(stored.get(PLAIN)?.length).toBeGreaterThan(UPDATES * 0.8);
    // Bodies without resourceVersion or clusterIP: the API server keeps each namespace's own.
    const updates = generateUpdates(olds, 9_000);
    const byName = new Map(
      [...stored].map(([namespace, objects]) => [
        namespace,
        new Map(objects.map((o) => [(o["metadata"] as { name: string }).name, o])),
      ]),
    );
    const { disagreements, tally } = await judgeAll(
      "UPDATE",
      updates,
      (namespace, service) => client.replace(namespace, service),
      (namespace, name) => byName.get(namespace)?.get(name),
    );
    expect(disagreements, report(disagreements, tally)).toEqual([]);
    expect(tally.compared).toBeGreaterThan(UPDATES * JUDGES.length * 0.5);
    expect(tally.admitted).toBeGreaterThan(100);
    for (const rule of RULES) expect(tally.denied[rule] ?? 0).toBeGreaterThan(5);
  });

  it("notices a disagreement, and shows the Service and both verdicts", async () => {
    // An engine told the label prefix is acme.example, against configuration A's policies.
    const services = generateServices("x", 60, 1_000);
    const { disagreements, tally } = await judgeAll(
      "CREATE",
      services,
      (namespace, service) => client.create(namespace, service),
      () => undefined,
      (judge) => ({ ...judge.setup.config, labelPrefix: "acme.example" }),
    );
    const onA = disagreements.filter((d) => d.setup === "a");
    expect(onA.length).toBeGreaterThan(5);
    expect(onA.every((d) => d.namespace === "d-a-missing-labels")).toBe(true);
    const text = report(disagreements, tally);
    expect(text).toMatch(/^\d+ disagreements \(of \d+ verdicts\):\nCREATE in d-/);
    expect(text).toContain('  Service: {"kind":"Service"');
    expect(text).toMatch(/\n {2}engine denies: (nothing|[a-z-]+)/);
    expect(text).toMatch(/\n {2}API server: (admitted|denied by [abc]-stsguard-)/);
  });
});
