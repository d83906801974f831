/**
 * The CEL the exported policies use, run by the real Kubernetes 1.26 API server:
 * - every function in test/policy-export/cel-subset.ts, on values read by index as in the
 *   export; and `lastIndexOf`/`indexOf`, which 1.26 cannot call on a string read by index (the
 *   failure of issue 19) but can on a field or a literal;
 * - the expressions exported for later versions, which 1.26 cannot install as such
 *   (matchConditions and messageExpression from 1.27, MutatingAdmissionPolicy from 1.32): their
 *   CEL runs here as plain validations and must compute what the JavaScript runtime of the unit
 *   differential test computes (which that test holds to the engine). Only the fields around
 *   them and `Object{...}` construction (rewritten to map literals) are left to the sources
 *   cited in docs/admission-policies.md.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import type { PolicyConfig } from "../../src/policy/index.js";
import { celString } from "../../src/policy-export/cel.js";
import { exportAdmissionPolicies } from "../../src/policy-export/index.js";
import { policyWith } from "../policy/engine-inputs.js";
import {
  evaluateCel,
  toMapLiteral,
  type Json,
  type Request,
} from "../policy-export/admission-policy-runtime.js";
import { EXTENSIONS, STANDARD } from "../policy-export/cel-subset.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import {
  serviceApi,
  serviceOf,
  type Answer,
  type Api,
  type ApiObject,
  type ServiceSpec,
} from "./support/policies.js";

const NS = "cel";
const GROUP = "admissionregistration.k8s.io/v1alpha1";
const CASE_LABEL = "e2e.stsguard.io/case";
const SENTINEL = "e2e.stsguard.io/sentinel";
const ACTIVE_LABEL = "e2e.stsguard.io/cel";

let cluster: Cluster | undefined;
let api: Api | undefined;
let k8s: Cluster;
let client: Api;

beforeAll(async () => {
  k8s = cluster = await startCluster();
  client = api = serviceApi(k8s);
  await k8s.createNamespace(NS);
});

afterAll(async () => {
  api?.close();
  await cluster?.stop();
});

/**
 * A policy of validations (each `message` says which), bound to Services labelled `case`. Its
 * sentinel denies an object whose sentinel annotation names this policy, and only this one:
 * several policies may bind the same case, and 1.26 names one denying policy in no fixed order.
 */
function policy(
  name: string,
  caseId: string,
  checks: readonly { expression: string; message: string }[],
): ApiObject[] {
  const sentinel = {
    expression: `!(has(object.metadata.annotations) && ${celString(SENTINEL)} in object.metadata.annotations && object.metadata.annotations[${celString(SENTINEL)}] == ${celString(name)})`,
    message: "sentinel",
  };
  return [
    {
      apiVersion: GROUP,
      kind: "ValidatingAdmissionPolicy",
      metadata: { name },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [""],
              apiVersions: ["v1"],
              resources: ["services"],
              operations: ["CREATE", "UPDATE"],
            },
          ],
        },
        validations: [...checks, sentinel].map((c) => ({ ...c, reason: "Invalid" })),
      },
    },
    {
      apiVersion: GROUP,
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name },
      spec: {
        policyName: name,
        matchResources: {
          namespaceSelector: { matchLabels: { [ACTIVE_LABEL]: "active" } },
          objectSelector: { matchLabels: { [CASE_LABEL]: caseId } },
        },
      },
    },
  ];
}

const sentinelled = (object: ApiObject, policyName: string): ApiObject => {
  const copy = structuredClone(object);
  const metadata = copy["metadata"] as { annotations?: Record<string, string> };
  metadata.annotations = { ...metadata.annotations, [SENTINEL]: policyName };
  return copy;
};

/** Applies the namespace label that activates the bindings, then waits for each case's. */
async function activate(
  cases: readonly {
    id: string;
    policy: string;
    send: (o: ApiObject) => Promise<Answer>;
    object: ApiObject;
  }[],
): Promise<void> {
  await k8s.kubectl(["label", "namespace", NS, `${ACTIVE_LABEL}=active`, "--overwrite"]);
  for (const c of cases) {
    await waitUntilDeniedBy(c.policy, () => c.send(sentinelled(c.object, c.policy)));
  }
}

async function waitUntilDeniedBy(policyName: string, send: () => Promise<Answer>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await send();
    if (answer.kind === "denied" && answer.policy === policyName) return;
    if (Date.now() > deadline) {
      throw new Error(`policy ${policyName} not in force after 30 s: ${JSON.stringify(answer)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function deactivate(names: readonly string[]): Promise<void> {
  await k8s.kubectl(["label", "namespace", NS, `${ACTIVE_LABEL}-`]);
  await k8s.kubectl([
    "delete",
    "validatingadmissionpolicies.admissionregistration.k8s.io,validatingadmissionpolicybindings.admissionregistration.k8s.io",
    ...names,
    "--ignore-not-found",
  ]);
}

describe("the CEL functions the export uses, on values read by index, on Kubernetes 1.26", () => {
  const probe = serviceOf({
    name: "redis-2-0",
    type: "ClusterIP",
    podName: "redis-2-0",
    labels: { [CASE_LABEL]: "functions" },
    annotations: { probe: "redis-2-0" },
    externalIPs: ["192.0.2.1", "192.0.2.2"],
  });
  const probes = Object.entries({ ...STANDARD, ...EXTENSIONS }).flatMap(([fn, expressions]) =>
    expressions.map((expression) => ({ expression, message: `${fn}: ${expression}` })),
  );

  it("every probe of every function is true", async () => {
    await k8s.apply(policy("functions", "functions", probes));
    await activate([
      { id: "functions", policy: "functions", send: (o) => client.create(NS, o), object: probe },
    ]);
    const answer = await client.create(NS, probe);
    expect(answer.kind === "denied" ? answer.message : answer.kind).toBe("admitted");
    await deactivate(["functions"]);
  });

  it("lastIndexOf and indexOf fail on a string read by index, and run on a field or a literal", async () => {
    const failing = [
      "object.spec.selector['statefulset.kubernetes.io/pod-name'].lastIndexOf('-') == 7",
      "object.metadata['name'].indexOf('-') == 5",
    ];
    const answers: string[] = [];
    for (const [i, expression] of failing.entries()) {
      const name = `fails-${i}`;
      await k8s.apply(policy(name, name, [{ expression, message: "false" }]));
      const object = serviceOf({ ...probeSpec(name) });
      await activate([{ id: name, policy: name, send: (o) => client.create(NS, o), object }]);
      const answer = await client.create(NS, object);
      answers.push(answer.kind === "denied" ? answer.message : answer.kind);
      await deactivate([name]);
    }
    expect(answers).toEqual([
      "expression 'object.spec.selector['statefulset.kubernetes.io/pod-name'].lastIndexOf('-') == 7' resulted in error: no such overload: lastIndexOf(string, string)",
      "expression 'object.metadata['name'].indexOf('-') == 5' resulted in error: no such overload: indexOf(string, string)",
    ]);
    const literal = [
      "'redis-2-0'.lastIndexOf('-') == 7",
      "'redis-2-0'.indexOf('-') == 5",
      "object.metadata.name.lastIndexOf('-') == 7",
      "object.metadata.name.indexOf('-') == 5",
    ];
    await k8s.apply(
      policy(
        "literal",
        "literal",
        literal.map((expression) => ({ expression, message: expression })),
      ),
    );
    const object = serviceOf(probeSpec("literal"));
    await activate([
      { id: "literal", policy: "literal", send: (o) => client.create(NS, o), object },
    ]);
    const answer = await client.create(NS, object);
    expect(answer.kind === "denied" ? answer.message : answer.kind).toBe("admitted");
    await deactivate(["literal"]);
  });
});

function probeSpec(caseId: string): ServiceSpec {
  return { name: "redis-2-0", type: "ClusterIP", labels: { [CASE_LABEL]: caseId } };
}

// ---- the expressions of later versions ----

const CONFIGS: Readonly<Record<string, PolicyConfig>> = {
  d: policyWith({ kubeVersion: "1.30" }),
  b: policyWith({
    kubeVersion: "1.30",
    labelPrefix: "acme.example",
    extraLabels: [
      { key: "example.com/owner", value: "platform" },
      { key: "example.com/team", fromStatefulSetLabel: "team" },
    ],
  }),
};

/** The CEL of a configuration's exports for 1.30 (validating) and 1.36 (mutating), by place. */
interface LaterCel {
  readonly matchCondition: string;
  readonly validations: readonly { name: string; expression: string; messageExpression: string }[];
  readonly mutations: readonly { name: string; expression: string }[];
}

function laterCel(config: PolicyConfig): LaterCel {
  const validating = exportAdmissionPolicies(config, {
    kubeVersion: parseKubeVersion("1.30"),
  }).objects;
  const mutating = exportAdmissionPolicies(
    { ...config, kubeVersion: parseKubeVersion("1.36") },
    { kubeVersion: parseKubeVersion("1.36"), only: "mutating" },
  ).objects;
  const conditions = new Set<string>();
  const validations: LaterCel["validations"][number][] = [];
  const mutations: LaterCel["mutations"][number][] = [];
  for (const object of [...validating, ...mutating]) {
    const name = (object["metadata"] as { name: string }).name;
    const spec = object["spec"] as {
      matchConditions?: { expression: string }[];
      validations?: { expression: string; messageExpression: string }[];
      mutations?: { applyConfiguration: { expression: string } }[];
    };
    for (const c of spec.matchConditions ?? []) conditions.add(c.expression);
    for (const v of spec.validations ?? []) validations.push({ name, ...v });
    for (const [i, m] of (spec.mutations ?? []).entries()) {
      mutations.push({
        name: `${name}[${i}]`,
        expression: toMapLiteral(m.applyConfiguration.expression),
      });
    }
  }
  expect(conditions.size).toBe(1);
  expect(validations.length).toBeGreaterThanOrEqual(3);
  expect(mutations.length).toBe(3);
  return { matchCondition: [...conditions][0] ?? "", validations, mutations };
}

function celLiteral(value: Json): string {
  if (typeof value === "string") return celString(value);
  if (typeof value === "boolean") return String(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${celString(k)}: ${celLiteral(v)}`)
      .join(", ")}}`;
  }
  throw new Error(`no CEL literal for ${JSON.stringify(value)}`);
}

interface LaterCase {
  readonly id: string;
  readonly service: ServiceSpec;
  /** For an UPDATE: the Service stored first. */
  readonly stored?: ServiceSpec;
}

const LATER_CASES: readonly LaterCase[] = [
  { id: "l1", service: { name: "redis-2-0" } },
  { id: "l2", service: { name: "redis-2-10", labels: null, externalTrafficPolicy: "Cluster" } },
  {
    id: "l3",
    service: {
      name: "w3",
      podName: "web-01",
      type: "NodePort",
      labels: null,
      externalTrafficPolicy: "Cluster",
    },
  },
  {
    id: "l4",
    service: {
      name: "w4",
      podName: "web-2147483647",
      type: "ClusterIP",
      labels: {
        "acme.example/statefulset": "web",
        "acme.example/ordinal": "2147483647",
        "example.com/owner": "platform",
      },
    },
  },
  {
    id: "l5",
    service: {
      name: "w5",
      podName: "web-1",
      labels: { "stsguard.io/statefulset": "web", "stsguard.io/ordinal": "2" },
      externalTrafficPolicy: null,
    },
  },
  {
    id: "l6",
    service: {
      name: "w6",
      podName: `${"a".repeat(61)}-0`,
      type: "ClusterIP",
      clusterIP: "None",
      labels: { "example.com/owner": "x" },
    },
  },
  { id: "l7", service: { name: "w7", podName: "Web-0", type: "ClusterIP", labels: null } },
  { id: "l8", service: { name: "w8", type: "ExternalName", podName: "web-0", labels: null } },
  { id: "l9", service: { name: "w9", podName: null, extraSelector: { app: "web" }, labels: null } },
  {
    id: "l10",
    stored: { name: "u10", podName: "db-3", externalTrafficPolicy: "Cluster", labels: null },
    service: {
      name: "u10",
      podName: "db-3",
      externalTrafficPolicy: "Cluster",
      labels: null,
      annotations: { touched: "yes" },
    },
  },
  {
    id: "l11",
    stored: { name: "u11", podName: "db-4" },
    service: { name: "u11", podName: "db-04", externalTrafficPolicy: "Cluster", labels: null },
  },
];

describe("the CEL exported for 1.27 and later computes on 1.26's CEL what the JS runtime computes", () => {
  it("match conditions, validations, messages and mutations, for two configurations", async () => {
    const withCase = (spec: ServiceSpec, id: string): ApiObject =>
      serviceOf({
        ...spec,
        labels: {
          ...(spec.labels === null ? {} : (spec.labels ?? rightLabelsOf(spec))),
          [CASE_LABEL]: id,
        },
      });
    // Stored Services first, and the objects as admission sees them, while no policy is active.
    const seen = new Map<
      string,
      { object: ApiObject; old: ApiObject | null; send: (o: ApiObject) => Promise<Answer> }
    >();
    for (const c of LATER_CASES) {
      const object = withCase(c.service, c.id);
      let old: ApiObject | null = null;
      let send = (o: ApiObject): Promise<Answer> => client.create(NS, o);
      if (c.stored) {
        const created = await client.create(NS, withCase(c.stored, c.id), { dryRun: false });
        if (created.kind !== "admitted") throw new Error(`${c.id}: ${JSON.stringify(created)}`);
        old = created.object;
        send = (o) => client.replace(NS, o);
      }
      const answer = await send(object);
      if (answer.kind !== "admitted") throw new Error(`${c.id}: ${JSON.stringify(answer)}`);
      seen.set(c.id, { object: answer.object, old, send });
    }

    const objects: ApiObject[] = [];
    const waits: {
      id: string;
      policy: string;
      send: (o: ApiObject) => Promise<Answer>;
      object: ApiObject;
    }[] = [];
    let checks = 0;
    for (const [configId, config] of Object.entries(CONFIGS)) {
      const cel = laterCel(config);
      for (const c of LATER_CASES) {
        const entry = seen.get(c.id);
        if (!entry) throw new Error(`no object for ${c.id}`);
        const request: Request = {
          operation: entry.old ? "UPDATE" : "CREATE",
          namespace: NS,
          object: entry.object as Json,
          oldObject: (entry.old ?? null) as Json,
        };
        const check = (label: string, expression: string, place: "verdict" | "value") => {
          const literal = celLiteral(evaluateCel(expression, request, place));
          checks += 1;
          return {
            expression: `dyn(${expression}) == dyn(${literal})`,
            message: `${configId}/${c.id}: ${label} is not ${literal.slice(0, 300)}`,
          };
        };
        const list = [check("matchCondition", cel.matchCondition, "verdict")];
        if (evaluateCel(cel.matchCondition, request, "verdict") === true) {
          for (const v of cel.validations) {
            list.push(check(`${v.name} expression`, v.expression, "verdict"));
            list.push(check(`${v.name} messageExpression`, v.messageExpression, "value"));
          }
          for (const m of cel.mutations)
            list.push(check(`${m.name} mutation`, m.expression, "value"));
        }
        const name = `later-${configId}-${c.id}`;
        objects.push(...policy(name, c.id, list));
        waits.push({ id: c.id, policy: name, send: entry.send, object: withCase(c.service, c.id) });
      }
    }
    expect(checks).toBeGreaterThan(200);
    await k8s.apply(objects);
    await activate(waits);
    const answers = await Promise.all(
      LATER_CASES.map(async (c) => {
        const entry = seen.get(c.id);
        const answer = await entry?.send(withCase(c.service, c.id));
        return {
          id: c.id,
          verdict: answer?.kind === "denied" ? `${answer.policy}: ${answer.message}` : answer?.kind,
        };
      }),
    );
    expect(answers).toEqual(LATER_CASES.map((c) => ({ id: c.id, verdict: "admitted" })));
  });
});

function rightLabelsOf(spec: ServiceSpec): Record<string, string> {
  const podName = spec.podName === undefined ? spec.name : spec.podName;
  if (typeof podName !== "string") return {};
  const dash = podName.lastIndexOf("-");
  return {
    "stsguard.io/statefulset": podName.slice(0, dash),
    "stsguard.io/ordinal": podName.slice(dash + 1),
  };
}
