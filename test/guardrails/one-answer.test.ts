// One table, three front-ends: the engine (evaluateService + decide), the webhook over HTTPS,
// and the built `stsguard check` as a child process must give the same answer for the same
// object and configuration: allowed or denied, which rules deny, and the same warnings.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { toWarningText } from "../../src/admission/warnings.js";
import { parseConfig } from "../../src/config/config.js";
import { decide, type RequestUser } from "../../src/guardrails/index.js";
import { createStaticNamespaceSource, summarizeNamespace } from "../../src/namespaces/source.js";
import { createMemoryLogDestination, createLogger } from "../../src/observability/logger.js";
import {
  evaluateService,
  formatFinding,
  parsePodTarget,
  RULE_IDS,
  summarizeStatefulSet,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { createStaticSource } from "../../src/statefulsets/source.js";
import { makeTempDir, runBuiltCli } from "../cli/built-cli.js";
import { aService, aStatefulSet } from "../helpers/objects.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls.js";
import { postJson } from "../server/https-client.js";

const CONFIG_TEXT = `
mode: enforce
labelsMayLowerIn: [sandbox]
namespaces:
  - names: [team-a, "legacy-*"]
    mode: warn
  - selector: {matchLabels: {tier: sandbox}}
    mode: monitor
  - names: [scratch]
    mode: "off"
exemptions:
  - name: kafka-migration
    reason: PLAT-123
    expires: "2099-01-01T00:00:00+02:00"
    namespaces: [kafka]
    services: ["broker-*"]
    rules: [ordinal-out-of-range]
  - name: lapsed
    reason: PLAT-7
    expires: "2020-01-01T00:00:00Z"
    namespaces: [prod]
    services: ["expired-*"]
  - name: data-team
    reason: ADR-12
    namespaces: [analytics]
    namespaceSelector: {matchLabels: {team: data}}
    rules: [ordinal-out-of-range]
  - name: ci-deployer
    reason: PLAT-9
    users: ["system:serviceaccount:ci:*"]
    services: ["ci-*"]
`;
const config = parseConfig(CONFIG_TEXT, "stsguard.yaml");

const NAMESPACES = [
  { name: "prod", labels: {} },
  { name: "team-a", labels: {} },
  { name: "legacy-billing", labels: {} },
  { name: "sandbox", labels: { tier: "sandbox" } },
  { name: "scratch", labels: {} },
  { name: "kafka", labels: {} },
  { name: "analytics", labels: { team: "data" } },
].map(({ name, labels }) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } }));

const STATEFULSETS = NAMESPACES.flatMap(({ metadata: { name: namespace } }) => [
  aStatefulSet({ name: "web", namespace, replicas: 2 }),
  aStatefulSet({ name: "broker", namespace, replicas: 2 }),
]);

const ALICE: RequestUser = { username: "alice", groups: ["system:authenticated"] };
const DEPLOYER: RequestUser = {
  username: "system:serviceaccount:ci:deployer",
  groups: ["system:serviceaccounts"],
};

interface Answer {
  readonly allowed: boolean;
  /** Rule ids of the errors that deny. */
  readonly denying: readonly string[];
  /** `<rule>: <message>` as the API server would keep them. */
  readonly warnings: readonly string[];
}

interface Row {
  readonly name: string;
  readonly service: Record<string, unknown>;
  readonly user?: RequestUser;
  /** What every front-end answers; `denying` and warning fragments. */
  readonly expect: { allowed: boolean; denying: string[]; warnings: RegExp[] };
  /** Offline (no user): check and the engine without a user answer this instead. */
  readonly offline?: { allowed: boolean; denying: string[] };
  /** The mutating webhook sends a patch. */
  readonly patched: boolean;
}

const lb = (namespace: string, podName: string, name = podName, labels = true) =>
  aService({
    namespace,
    name,
    podName,
    type: "LoadBalancer",
    externalTrafficPolicy: "Local",
    ...(labels ? {} : { noLabels: true }),
  });

const ROWS: Row[] = [
  {
    name: "enforce, allowed",
    service: lb("prod", "web-1"),
    expect: { allowed: true, denying: [], warnings: [] },
    patched: false,
  },
  {
    name: "enforce, warned",
    service: lb("prod", "ghost-0"),
    expect: { allowed: true, denying: [], warnings: [/^statefulset-not-found: /] },
    patched: false,
  },
  {
    name: "enforce, denied",
    service: lb("prod", "web-7"),
    expect: { allowed: false, denying: ["ordinal-out-of-range"], warnings: [] },
    patched: false,
  },
  {
    name: "enforce, patched (and denied as sent)",
    service: lb("prod", "web-1", "unlabelled-web-1", false),
    expect: { allowed: false, denying: ["missing-labels"], warnings: [] },
    patched: true,
  },
  {
    name: "warn by name, would have been denied",
    service: lb("team-a", "web-7"),
    expect: {
      allowed: true,
      denying: [],
      warnings: [
        /^ordinal-out-of-range: would have been denied \(namespace team-a is in warn mode\)/,
      ],
    },
    patched: false,
  },
  {
    name: "warn by glob, patched",
    service: lb("legacy-billing", "web-1", "unlabelled-web-1", false),
    expect: {
      allowed: true,
      denying: [],
      warnings: [
        /^missing-labels: would have been denied \(namespace legacy-billing is in warn mode\)/,
      ],
    },
    patched: true,
  },
  {
    name: "monitor by label selector: nothing shown, nothing patched",
    service: lb("sandbox", "web-1", "unlabelled-web-1", false),
    expect: { allowed: true, denying: [], warnings: [] },
    patched: false,
  },
  {
    name: "monitor, would have been denied: still allowed silently",
    service: lb("sandbox", "web-7"),
    expect: { allowed: true, denying: [], warnings: [] },
    patched: false,
  },
  {
    name: "off: untouched",
    service: lb("scratch", "web-7", "web-7", false),
    expect: { allowed: true, denying: [], warnings: [] },
    patched: false,
  },
  {
    name: "exemption by namespace and Service glob",
    service: lb("kafka", "broker-7"),
    expect: {
      allowed: true,
      denying: [],
      warnings: [
        /^ordinal-out-of-range: exempted by kafka-migration \(PLAT-123\) until 2098-12-31T22:00:00Z: /,
      ],
    },
    patched: false,
  },
  {
    name: "exemption does not cover another Service",
    service: lb("kafka", "broker-7", "other-7"),
    expect: { allowed: false, denying: ["ordinal-out-of-range"], warnings: [] },
    patched: false,
  },
  {
    name: "exemption lifts only its rules",
    service: lb("kafka", "broker-7", "broker-7-unlabelled", false),
    expect: {
      allowed: false,
      denying: ["missing-labels"],
      warnings: [/^ordinal-out-of-range: exempted by kafka-migration/],
    },
    patched: true,
  },
  {
    name: "expired exemption: denied, and says when it expired",
    service: lb("prod", "web-7", "expired-web-7"),
    expect: { allowed: false, denying: ["ordinal-out-of-range"], warnings: [] },
    patched: false,
  },
  {
    name: "exemption by namespace label selector",
    service: lb("analytics", "web-7"),
    expect: {
      allowed: true,
      denying: [],
      warnings: [/^ordinal-out-of-range: exempted by data-team \(ADR-12\) with no expiry: /],
    },
    patched: false,
  },
  {
    name: "exemption by user: applies in the cluster, cannot be evaluated offline",
    service: lb("prod", "web-7", "ci-web-7"),
    user: DEPLOYER,
    expect: {
      allowed: true,
      denying: [],
      warnings: [/^ordinal-out-of-range: exempted by ci-deployer \(PLAT-9\) with no expiry/],
    },
    offline: { allowed: false, denying: ["ordinal-out-of-range"] },
    patched: false,
  },
  {
    name: "exemption by user: another user is denied",
    service: lb("prod", "web-7", "ci-web-7"),
    user: ALICE,
    expect: { allowed: false, denying: ["ordinal-out-of-range"], warnings: [] },
    patched: false,
  },
];

const summaries = STATEFULSETS.map((s) => summarizeStatefulSet(s, "default")).filter(
  (s): s is StatefulSetSummary => s !== null,
);

/** The engine, as a front-end would call it. */
function engineAnswer(service: Record<string, unknown>, user: RequestUser | null) {
  const metadata = service["metadata"] as { name: string; namespace: string };
  const target = parsePodTarget(
    (service["spec"] as { selector: Record<string, string> }).selector[
      "statefulset.kubernetes.io/pod-name"
    ],
  );
  const sts = summaries.find(
    (s) => s.namespace === metadata.namespace && s.name === target?.statefulSet,
  );
  const evaluation = evaluateService(
    service,
    {
      operation: "CREATE",
      lookup: sts ? { status: "found", statefulSet: sts } : { status: "not-found" },
      namespace: metadata.namespace,
    },
    config.policy,
  );
  const ns = NAMESPACES.find((n) => n.metadata.name === metadata.namespace);
  const decision = decide(
    evaluation.findings,
    {
      kind: "Service",
      namespace: metadata.namespace,
      name: metadata.name,
      statefulSet: target?.statefulSet ?? null,
      namespaceLabels: ns ? (summarizeNamespace(ns)?.labels ?? null) : null,
      user,
    },
    config,
    new Date(),
  );
  const answer: Answer = {
    allowed: !decision.deny,
    denying: decision.deny
      ? unique(decision.reported.filter((f) => f.severity === "error").map((f) => f.rule))
      : [],
    warnings: decision.showWarnings
      ? decision.reported
          .filter((f) => f.severity === "warning")
          .map((f) => toWarningText(formatFinding(f)))
          .sort()
      : [],
  };
  return { answer, patched: decision.applyFixes && evaluation.fixed !== service, decision };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function expectAnswer(answer: Answer, row: Row, offline = false): void {
  const want = offline && row.offline ? row.offline : row.expect;
  expect(answer.allowed).toBe(want.allowed);
  expect(answer.denying).toEqual(want.denying);
  if (!(offline && row.offline)) {
    expect(answer.warnings).toHaveLength(row.expect.warnings.length);
    for (const pattern of row.expect.warnings) {
      expect(answer.warnings.some((w) => pattern.test(w))).toBe(true);
    }
  }
}

describe("one answer: engine, webhook over HTTPS, stsguard check", () => {
  let certs: TestCertificates;
  let server: RunningServer;
  let temp: { dir: string; remove: () => Promise<void> };
  let checkAnswers: Map<string, Answer>;
  let checkRun: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    certs = await makeTestCertificates();
    server = await startServer({
      source: createStaticSource(summaries),
      namespaces: createStaticNamespaceSource(
        NAMESPACES.map((n) => summarizeNamespace(n)).filter((n) => n !== null),
      ),
      config,
      logger: createLogger({ level: "silent", destination: createMemoryLogDestination() }),
      tls: { cert: certs.cert, key: certs.key },
      host: "127.0.0.1",
      port: 0,
    });
    // check: every object of the table in one run, as a repository would hold them.
    temp = await makeTempDir("one-answer-");
    const documents = [...NAMESPACES, ...STATEFULSETS, ...ROWS.map((r) => r.service)];
    const unique = new Map(
      documents.map((d) => {
        const m = d["metadata"] as { name: string; namespace?: string };
        return [`${String(d["kind"])}/${m.namespace ?? ""}/${m.name}`, d];
      }),
    );
    await writeFile(
      path.join(temp.dir, "manifests.yaml"),
      [...unique.values()].map((d) => stringify(d)).join("---\n"),
    );
    await writeFile(path.join(temp.dir, "stsguard.yaml"), CONFIG_TEXT);
    checkRun = await runBuiltCli(
      ["check", "--config", "stsguard.yaml", "--output", "json", "manifests.yaml"],
      { cwd: temp.dir },
    );
    const report = JSON.parse(checkRun.stdout) as {
      findings: {
        rule: string;
        severity: string;
        kind: string;
        namespace: string;
        name: string;
        message: string;
      }[];
    };
    checkAnswers = new Map();
    for (const row of ROWS) {
      const m = row.service["metadata"] as { name: string; namespace: string };
      const mine = report.findings.filter(
        (f) => f.kind === "Service" && f.namespace === m.namespace && f.name === m.name,
      );
      const errors = mine.filter((f) => f.severity === "error");
      checkAnswers.set(`${m.namespace}/${m.name}`, {
        allowed: errors.length === 0,
        denying: unique2(errors.map((f) => f.rule)),
        warnings: mine
          .filter((f) => f.severity === "warning")
          .map((f) => toWarningText(`${f.rule}: ${f.message}`))
          .sort(),
      });
    }
  }, 120_000);

  afterAll(async () => {
    await server.close();
    await temp.remove();
  });

  function unique2(values: readonly string[]): string[] {
    return [...new Set(values)].sort();
  }

  it.each(ROWS)("$name", async (row) => {
    const user = row.user ?? ALICE;
    const engine = engineAnswer(row.service, user);
    expectAnswer(engine.answer, row);
    expect(engine.patched).toBe(row.patched);

    // The webhook: /validate on the object as sent, /mutate for the patch.
    const review = (uid: string) => ({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid,
        kind: { group: "", version: "v1", kind: "Service" },
        resource: { group: "", version: "v1", resource: "services" },
        name: (row.service["metadata"] as { name: string }).name,
        namespace: (row.service["metadata"] as { namespace: string }).namespace,
        operation: "CREATE",
        userInfo: user,
        object: row.service,
        dryRun: false,
      },
    });
    const validated = await postJson(server.port, certs.caCert, "/validate", review("v"));
    const response = (validated.json as { response: Record<string, unknown> }).response as {
      allowed: boolean;
      status?: { message: string };
      warnings?: string[];
    };
    const webhook: Answer = {
      allowed: response.allowed,
      denying: response.allowed
        ? []
        : unique2(
            (response.status?.message ?? "")
              .split("; ")
              .map((part) => /^([a-z-]+): /.exec(part)?.[1] ?? "")
              .filter((rule) => (RULE_IDS as readonly string[]).includes(rule)),
          ),
      warnings: [...(response.warnings ?? [])].sort(),
    };
    expect(webhook).toEqual(engine.answer);
    expectAnswer(webhook, row);

    const mutated = await postJson(server.port, certs.caCert, "/mutate", review("m"));
    const patch = (mutated.json as { response: { patch?: string } }).response.patch;
    expect(patch !== undefined).toBe(row.patched);

    // check, offline: no user. It agrees with the engine run without a user.
    const m = row.service["metadata"] as { name: string; namespace: string };
    const offline = engineAnswer(row.service, null);
    const fromCheck = checkAnswers.get(`${m.namespace}/${m.name}`);
    expect(fromCheck).toEqual(offline.answer);
    expectAnswer(offline.answer, row, true);
  });

  it("check names the exemption it could not evaluate offline", () => {
    expect(checkRun.stderr).toContain(
      "Service prod/ci-web-7: exemption ci-deployer could not be evaluated offline: it needs the requesting user; ordinal-out-of-range stay errors here",
    );
  });

  it("an expired exemption says when it expired, in every front-end", async () => {
    const row = ROWS.find((r) => r.name.startsWith("expired exemption"));
    const engine = engineAnswer(row!.service, ALICE);
    const note = "exemption lapsed (PLAT-7) expired at 2020-01-01T00:00:00Z: ";
    expect(engine.decision.findings[0]?.message).toContain(note);
    expect(checkRun.stdout).toContain(note);
    const answer = await postJson(server.port, certs.caCert, "/validate", {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "expired",
        kind: { group: "", version: "v1", kind: "Service" },
        namespace: "prod",
        name: "expired-web-7",
        operation: "CREATE",
        userInfo: ALICE,
        object: row!.service,
      },
    });
    expect(JSON.stringify(answer.json)).toContain(note);
  });
});
