/**
 * One meaning: the exported CEL and the engine (src/policy) give the same verdicts (which rules
 * deny, which warn, with the same messages) and the same mutated object, on a table of the
 * engine's edge cases and on thousands of generated Services, configurations, versions and
 * operations. The lookup is `unavailable`, so only the three self-contained rules can fire, and
 * labels copied from a StatefulSet are never required: exactly what CEL can know.
 *
 * Kubernetes 1.26's v1alpha1 can only deny, with static messages: there the CEL must deny exactly
 * when the engine finds an error, with a message for the same rule, and warnings are absent.
 *
 * The CEL runs in JavaScript, held to the functions Kubernetes 1.26's API server runs
 * (./cel-subset.ts); test/e2e/policy-differential.e2e.test.ts has the real API server judge
 * generated Services against the engine the same way.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseKubeVersion } from "../../src/config/config.js";
import {
  evaluateService,
  formatFinding,
  type ExtraLabel,
  type PolicyConfig,
  type Severity,
} from "../../src/policy/index.js";
import { exportAdmissionPolicies, isDenyOnlyValidating } from "../../src/policy-export/index.js";
import { aService, stsguardLabels } from "../helpers/objects.js";
import { policyWith, unavailable, type PolicyOverrides } from "../policy/engine-inputs.js";
import { mutate, validate, type Json, type Request } from "./admission-policy-runtime.js";
import { asDecoded } from "./api-server-decode.js";

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const POD_NAME_KEY = "statefulset.kubernetes.io/pod-name";

interface Case {
  readonly service: unknown;
  readonly oldService?: unknown;
  readonly operation?: "CREATE" | "UPDATE";
  readonly namespace?: string;
  readonly config?: PolicyOverrides;
  /** Export the CEL for another version than the engine assumes: only to show a mismatch fails. */
  readonly exportFor?: string;
}

const ruleOf = (message: string): string => message.slice(0, message.indexOf(":"));

/** Registry validation runs before validating admission: only valid selector values reach the CEL messages. */
function selectorValueIsValid(object: Json): boolean {
  const selector = (object as { spec?: { selector?: Record<string, string> } }).spec?.selector;
  const value = selector?.[POD_NAME_KEY];
  return typeof value === "string" && value.length <= 63 && LABEL_VALUE.test(value);
}

/** Runs both; returns what was compared, for tests that also check the shape of the answer. */
function compareBoth(row: Case): { denied: readonly string[]; warnings: readonly string[] } | null {
  const config: PolicyConfig = policyWith(row.config);
  const object = asDecoded(row.service);
  // The API server rejects a body it cannot decode before admission: nothing to compare.
  if (object === null) return null;
  const operation = row.operation ?? "CREATE";
  const oldObject = operation === "UPDATE" ? asDecoded(row.oldService ?? row.service) : null;
  if (operation === "UPDATE" && oldObject === null) return null;
  const request: Request = {
    operation,
    namespace: row.namespace ?? "demo",
    object,
    oldObject,
  };
  const engine = evaluateService(
    object,
    {
      operation,
      lookup: unavailable,
      oldService: oldObject ?? undefined,
      namespace: request.namespace,
    },
    config,
  );
  const expected = {
    denied: engine.findings
      .filter((f) => f.severity === "error")
      .map(formatFinding)
      .sort(),
    warnings: engine.findings
      .filter((f) => f.severity === "warning")
      .map(formatFinding)
      .sort(),
  };
  const kubeVersion = row.exportFor ? parseKubeVersion(row.exportFor) : config.kubeVersion;
  const { objects } = exportAdmissionPolicies(config, { kubeVersion });
  const cel = validate(objects as never, request);
  const actual = { denied: [...cel.denied].sort(), warnings: [...cel.warnings].sort() };
  if (isDenyOnlyValidating(kubeVersion)) {
    // Static messages: the same rules deny, each message starts with its rule id.
    expect({ denied: actual.denied.map(ruleOf), warnings: actual.warnings }).toEqual({
      denied: expected.denied.map(ruleOf),
      warnings: [],
    });
  } else if (selectorValueIsValid(object)) {
    expect(actual).toEqual(expected);
  } else {
    expect({
      denied: actual.denied.map(ruleOf),
      warnings: actual.warnings.map(ruleOf),
    }).toEqual({ denied: expected.denied.map(ruleOf), warnings: expected.warnings.map(ruleOf) });
  }
  // Versions without MutatingAdmissionPolicy export none: then only the verdicts are compared.
  if (objects.some((o) => o["kind"] === "MutatingAdmissionPolicy")) {
    expect(mutate(objects as never, request)).toEqual(engine.fixed);
  }
  return expected;
}

const IPS = ["192.0.2.10"];
const OWNER = { key: "example.com/owner", value: "platform" } as const;
const TEAM = { key: "example.com/team", fromStatefulSetLabel: "team" } as const;
const PROTO = { key: "constructor", value: "x" } as const;

/** The engine's table (test/policy/evaluate-service.test.ts) for the three rules, and more edges. */
const rows: (Case & { name: string })[] = [
  { name: "web-0, correct labels", service: aService() },
  { name: "leading zero web-01", service: aService({ podName: "web-01", labels: { app: "web" } }) },
  { name: "Web-0 (upper case)", service: aService({ podName: "Web-0" }) },
  { name: "empty value", service: aService({ podName: "" }) },
  { name: "null value (decoded as empty)", service: aService({ podName: null }) },
  { name: "a name ending in digits: redis-2-0", service: aService({ podName: "redis-2-0" }) },
  { name: "redis-2-0 without labels", service: aService({ podName: "redis-2-0", noLabels: true }) },
  { name: "ordinal 2147483647", service: aService({ podName: "web-2147483647" }) },
  { name: "ordinal 2147483648", service: aService({ podName: "web-2147483648" }) },
  { name: "ordinal with 11 digits", service: aService({ podName: "web-10000000000" }) },
  { name: "63 characters", service: aService({ podName: `${"a".repeat(61)}-0` }) },
  { name: "64 characters", service: aService({ podName: `${"a".repeat(62)}-0` }) },
  { name: "no dash", service: aService({ podName: "web0" }) },
  { name: "trailing dash", service: aService({ podName: "web-" }) },
  { name: "sts part starting with a dash", service: aService({ podName: "-web-0" }) },
  {
    name: "malformed with fixed extras and no labels",
    service: aService({ podName: "web-01", noLabels: true }),
    config: { extraLabels: [OWNER, TEAM] },
  },
  {
    name: "ExternalName",
    service: aService({ type: "ExternalName", podName: "web-9", noLabels: true }),
  },
  {
    name: "selector by app only",
    service: aService({ type: "LoadBalancer", selector: { app: "web" }, noLabels: true }),
  },
  {
    name: "selector is a list (rejected)",
    service: aService({ selector: [{ [POD_NAME_KEY]: "web-9" }] }),
  },
  { name: "selector is null", service: aService({ selector: null, noLabels: true }) },
  { name: "type unset", service: aService({ type: null, noLabels: true }) },
  { name: "type empty", service: aService({ type: "", externalIPs: IPS }) },
  {
    name: "LoadBalancer Cluster",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
  },
  {
    name: "LoadBalancer Local",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Local" }),
  },
  { name: "LoadBalancer unset", service: aService({ type: "LoadBalancer" }) },
  {
    name: "LoadBalancer lowercase local",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "local" }),
  },
  {
    name: "NodePort Cluster",
    service: aService({ type: "NodePort", externalTrafficPolicy: "Cluster" }),
  },
  {
    name: "NodePort on 1.27",
    service: aService({ type: "NodePort" }),
    config: { kubeVersion: "1.27" },
  },
  { name: "ClusterIP stale Cluster", service: aService({ externalTrafficPolicy: "Cluster" }) },
  ...["1.27", "1.28", "1.29", "1.32", "1.36"].map((kubeVersion) => ({
    name: `ClusterIP with externalIPs on ${kubeVersion}`,
    service: aService({ externalIPs: IPS }),
    config: { kubeVersion },
  })),
  { name: "empty externalIPs", service: aService({ externalIPs: [] }) },
  { name: "type unset with externalIPs", service: aService({ type: null, externalIPs: IPS }) },
  { name: "headless with externalIPs", service: aService({ clusterIP: "None", externalIPs: IPS }) },
  { name: "no labels map", service: aService({ noLabels: true }) },
  { name: "labels null", service: aService({ labels: null }) },
  {
    name: "labels a list (rejected)",
    service: { ...aService({ noLabels: true }), metadata: { name: "web-0", labels: [] } },
  },
  {
    name: "a number label (rejected)",
    service: aService({ labels: { "stsguard.io/ordinal": 0 } }),
  },
  { name: "other labels only", service: aService({ labels: { app: "web" } }) },
  {
    name: "a wrong ordinal label",
    service: aService({ labels: { ...stsguardLabels("web-0"), "stsguard.io/ordinal": "1" } }),
  },
  {
    name: "labels of another pod",
    service: aService({ podName: "web-1", labels: stsguardLabels("db-1") }),
  },
  { name: "extra fixed label missing", service: aService(), config: { extraLabels: [OWNER] } },
  {
    name: "extra fixed label present",
    service: aService({ labels: { ...stsguardLabels("web-0"), "example.com/owner": "platform" } }),
    config: { extraLabels: [OWNER] },
  },
  {
    name: "copied extra label is not required",
    service: aService(),
    config: { extraLabels: [TEAM] },
  },
  {
    name: "an extra label named constructor",
    service: aService(),
    config: { extraLabels: [PROTO] },
  },
  {
    name: "labels named like Object.prototype members",
    service: aService({ labels: { constructor: "x", toString: "y", __proto__: "z" } }),
    config: { extraLabels: [PROTO] },
  },
  { name: "a custom prefix", service: aService(), config: { labelPrefix: "acme.example" } },
  {
    name: "no metadata at all",
    service: { kind: "Service", spec: { selector: { [POD_NAME_KEY]: "web-0" } } },
  },
  {
    name: "generateName only",
    service: { ...aService({ noLabels: true }), metadata: { generateName: "web-" } },
  },
  {
    name: "external-traffic-policy off",
    service: aService({ type: "LoadBalancer" }),
    config: { severities: { "external-traffic-policy": "off" } },
  },
  {
    name: "external-traffic-policy warning",
    service: aService({ type: "LoadBalancer" }),
    config: { severities: { "external-traffic-policy": "warning" } },
  },
  {
    name: "missing-labels off",
    service: aService({ type: "NodePort", noLabels: true }),
    config: { severities: { "missing-labels": "off" } },
  },
  {
    name: "malformed-pod-name off",
    service: aService({ podName: "web-01" }),
    config: { severities: { "malformed-pod-name": "off" } },
  },
  {
    name: "UPDATE of a Service that already lacked labels: only a warning",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster", noLabels: true }),
    oldService: aService({
      type: "LoadBalancer",
      externalTrafficPolicy: "Cluster",
      noLabels: true,
    }),
    operation: "UPDATE",
  },
  {
    name: "UPDATE that breaks a rule the old object kept: denied",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    oldService: aService({ type: "LoadBalancer", externalTrafficPolicy: "Local" }),
    operation: "UPDATE",
  },
  {
    name: "UPDATE with preexistingViolations enforce",
    service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    oldService: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
    operation: "UPDATE",
    config: { preexistingViolations: "enforce" },
  },
  {
    name: "UPDATE from a plain Service",
    service: aService({ podName: "web-01" }),
    oldService: aService({ selector: { app: "web" } }),
    operation: "UPDATE",
  },
  {
    name: "UPDATE from ExternalName",
    service: aService({ podName: "web-01" }),
    oldService: aService({ podName: "web-01", type: "ExternalName" }),
    operation: "UPDATE",
  },
  {
    name: "UPDATE LoadBalancer to ClusterIP with a stale Local",
    service: aService({ externalTrafficPolicy: "Local" }),
    oldService: aService({ type: "LoadBalancer", externalTrafficPolicy: "Local" }),
    operation: "UPDATE",
  },
  {
    name: "namespace from the request",
    service: aService({ namespace: null }),
    namespace: "team-a",
    config: { extraLabels: [OWNER] },
  },
];

/** The same table on 1.26, where only errors deny and nothing warns. */
const rows126 = rows.map((row) => ({
  ...row,
  name: `${row.name}, on 1.26`,
  config: { ...row.config, kubeVersion: "1.26" },
}));

describe("the exported CEL and the engine agree", () => {
  it.each(rows)("$name", (row) => {
    compareBoth(row);
  });

  it.each(rows126)("$name", (row) => {
    compareBoth(row);
  });

  it("notices a disagreement: CEL exported for 1.28 judges ClusterIP with externalIPs unlike the engine on 1.29", () => {
    const row = { service: aService({ externalIPs: IPS }), config: { kubeVersion: "1.29" } };
    expect(() => compareBoth(row)).not.toThrow();
    expect(() => compareBoth({ ...row, exportFor: "1.28" })).toThrow(/to deeply equal/);
  });

  it("notices a disagreement on 1.26: CEL that denied a preexisting violation on UPDATE", () => {
    const row = {
      service: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
      oldService: aService({ type: "LoadBalancer", externalTrafficPolicy: "Cluster" }),
      operation: "UPDATE" as const,
      config: { kubeVersion: "1.26" },
    };
    // The engine only warns; the 1.26 CEL allows. With enforce, both deny.
    expect(compareBoth(row)?.denied).toEqual([]);
    expect(
      compareBoth({ ...row, config: { ...row.config, preexistingViolations: "enforce" } }),
    ).toMatchObject({ denied: [expect.stringMatching(/^external-traffic-policy: /)] });
  });

  it("notices a disagreement: CEL exported for 1.26 does not deny what the engine denies on 1.29", () => {
    const row = { service: aService({ externalIPs: IPS }), config: { kubeVersion: "1.29" } };
    expect(compareBoth(row)?.denied).toEqual([expect.stringMatching(/^external-traffic-policy: /)]);
    expect(() => compareBoth({ ...row, exportFor: "1.26" })).toThrow(/to deeply equal/);
  });

  it("on 1.26 exports only the error rules, and the table reaches deny and allow there", () => {
    const { objects } = exportAdmissionPolicies(
      policyWith({
        kubeVersion: "1.26",
        severities: { "malformed-pod-name": "warning", "external-traffic-policy": "off" },
      }),
      { kubeVersion: parseKubeVersion("1.26") },
    );
    expect(objects.map((o) => (o["metadata"] as { name: string }).name)).toEqual([
      "stsguard-missing-labels",
      "stsguard-missing-labels",
    ]);
    const results = rows126.map(compareBoth);
    expect(results.some((r) => r && r.denied.length > 0)).toBe(true);
    expect(results.some((r) => r && r.denied.length === 0)).toBe(true);
  });

  it("the table reaches every verdict: deny, warn, allow and rejected bodies", () => {
    const results = rows.map(compareBoth);
    expect(results.filter((r) => r === null).length).toBeGreaterThanOrEqual(3);
    expect(results.some((r) => r && r.denied.length > 0)).toBe(true);
    expect(results.some((r) => r && r.warnings.length > 0)).toBe(true);
    expect(results.some((r) => r && r.denied.length === 0 && r.warnings.length === 0)).toBe(true);
  });
});

// ---- generated inputs ----

const podNames = fc.oneof(
  fc.constantFrom(
    "web-0",
    "web-1",
    "web-01",
    "web-00",
    "redis-2-0",
    "redis-2-01",
    "a-b-c-12",
    "0-0",
    "Web-0",
    "web_0",
    "web-",
    "-0",
    "web",
    "",
    "web-2147483647",
    "web-2147483648",
    "web-9999999999",
    "web-10000000000",
    `${"a".repeat(61)}-0`,
    `${"a".repeat(62)}-0`,
    "wéb-0",
    "web-٣",
  ),
  fc.stringMatching(/^[a-z0-9][-a-z0-9]{0,8}-(0|[1-9][0-9]{0,10}|0[0-9])$/),
  fc.string({ maxLength: 12 }),
  fc.constant(null),
);

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.option(arb, { nil: undefined, freq: 3 });

const labelKeys = [
  "stsguard.io/statefulset",
  "stsguard.io/ordinal",
  "acme.example/statefulset",
  "acme.example/ordinal",
  "example.com/owner",
  "constructor",
  "toString",
  "__proto__",
  "app",
];

function labelsFor(podName: unknown): fc.Arbitrary<unknown> {
  const correct = typeof podName === "string" ? Object.values(stsguardLabels(podName)) : [];
  const value = fc.constantFrom(...correct, "web", "redis-2", "0", "1", "platform", "x", "");
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.dictionary(fc.constantFrom(...labelKeys), value, { maxKeys: 6 }),
    fc.constant(typeof podName === "string" ? stsguardLabels(podName) : {}),
    fc.constant(typeof podName === "string" ? stsguardLabels(podName, "acme.example") : {}),
  );
}

const serviceArb: fc.Arbitrary<unknown> = podNames.chain((podName) =>
  fc
    .record({
      name: optional(fc.constantFrom("web-0", "svc", "")),
      namespace: optional(fc.constantFrom("demo", "")),
      generateName: optional(fc.constantFrom("web-", "")),
      labels: labelsFor(podName),
      type: optional(
        fc.constantFrom(
          "ClusterIP",
          "NodePort",
          "LoadBalancer",
          "ExternalName",
          "loadbalancer",
          "",
          null,
        ),
      ),
      externalTrafficPolicy: optional(fc.constantFrom("Cluster", "Local", "local", "", null)),
      externalIPs: optional(fc.constantFrom([], IPS, ["192.0.2.1", "192.0.2.2"], null)),
      selector: fc.oneof(
        {
          weight: 8,
          arbitrary: fc.dictionary(
            fc.constantFrom("app", "apps.kubernetes.io/pod-index", "constructor"),
            fc.constantFrom("web", "0"),
            { maxKeys: 2 },
          ),
        },
        { weight: 1, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constant("web-0") },
      ),
      podNameInSelector: fc.boolean(),
    })
    .map((r) => {
      const metadata: Record<string, unknown> = {};
      if (r.name !== undefined) metadata["name"] = r.name;
      if (r.namespace !== undefined) metadata["namespace"] = r.namespace;
      if (r.generateName !== undefined) metadata["generateName"] = r.generateName;
      if (r.labels !== undefined) metadata["labels"] = r.labels;
      const spec: Record<string, unknown> = {};
      if (r.type !== undefined) spec["type"] = r.type;
      if (r.externalTrafficPolicy !== undefined)
        spec["externalTrafficPolicy"] = r.externalTrafficPolicy;
      if (r.externalIPs !== undefined) spec["externalIPs"] = r.externalIPs;
      spec["selector"] =
        r.podNameInSelector && typeof r.selector === "object" && r.selector !== null
          ? { ...r.selector, [POD_NAME_KEY]: podName }
          : r.selector;
      return { apiVersion: "v1", kind: "Service", metadata, spec };
    }),
);

const severityArb = fc.constantFrom<Severity>("error", "warning", "off");
const extraArb = fc.subarray<ExtraLabel>([OWNER, PROTO, TEAM, { key: "app", value: "web" }]);

const configArb: fc.Arbitrary<PolicyOverrides> = fc.record({
  severities: fc.record({
    "malformed-pod-name": severityArb,
    "external-traffic-policy": severityArb,
    "missing-labels": severityArb,
  }),
  kubeVersion: fc.constantFrom(
    "1.26",
    "1.27",
    "1.28",
    "1.29",
    "1.30",
    "1.32",
    "1.34",
    "1.36",
    "2.0",
  ),
  labelPrefix: fc.constantFrom("stsguard.io", "acme.example"),
  extraLabels: extraArb,
  preexistingViolations: fc.constantFrom("warn", "enforce"),
});

describe("on generated Services", () => {
  it("agree on 3000 Services, configurations, versions and operations", () => {
    let compared = 0;
    fc.assert(
      fc.property(
        serviceArb,
        serviceArb,
        fc.constantFrom<"CREATE" | "UPDATE">("CREATE", "UPDATE"),
        configArb,
        fc.boolean(),
        (service, other, operation, config, sameOld) => {
          // Half of the UPDATEs keep the old object as it was, so rules it already broke are common.
          const oldService = sameOld ? service : other;
          if (compareBoth({ service, oldService, operation, config })) compared += 1;
        },
      ),
      { numRuns: 3000 },
    );
    // Most generated bodies decode; the rest are rejected by the API server before admission.
    expect(compared).toBeGreaterThan(2000);
  });

  it("rejects 1.25 and below, which serve no ValidatingAdmissionPolicy", () => {
    expect(() =>
      exportAdmissionPolicies(policyWith(), { kubeVersion: parseKubeVersion("1.25") }),
    ).toThrow(/Kubernetes 1.25 serves no ValidatingAdmissionPolicy/);
  });
});
