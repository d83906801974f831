/**
 * Modes and exemptions as the platform team configures them, through a real 1.26 API server:
 * namespace modes chosen by real Namespace labels (the configuration's namespaces[].selector),
 * exemptions by namespace, by user and group (kubectl --as / --as-group impersonation, so the
 * API server puts them in userInfo) and by expiry, and a configuration rewritten under a
 * running serve while requests keep flowing.
 *
 * Namespace labels lower a mode only where `labelsMayLowerIn` allows it (here: every namespace of
 * this test cluster; test/e2e/trust-namespace-labels.e2e.test.ts proves the allowlist itself),
 * and every exemption is scoped by `namespaces`.
 */
import https from "node:https";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { eventually, type Identity } from "./support/cluster.js";
import { perPodService, requiredLabels, statefulSet, type Json } from "./support/objects.js";
import {
  denied,
  kubectlWith,
  type Outcome,
  type StoredService,
  useWebhookWorld,
} from "./support/webhook.js";

const FAR = "2099-01-01T00:00:00Z";

const CONFIG = {
  mode: "enforce",
  labelsMayLowerIn: ["*"],
  namespaces: [
    { selector: { matchLabels: { rollout: "warn" } }, mode: "warn" },
    { selector: { matchLabels: { rollout: "monitor" } }, mode: "monitor" },
    { selector: { matchLabels: { rollout: "off" } }, mode: "off" },
  ],
  exemptions: [
    {
      name: "lb-migration",
      reason: "PLAT-1, approved by the platform team",
      expires: FAR,
      namespaces: ["legacy"],
      rules: ["ordinal-out-of-range"],
    },
    {
      name: "deployer",
      reason: "PLAT-2, the release pipeline",
      namespaces: ["team-b"],
      users: ["alice"],
    },
    {
      name: "data-admins",
      reason: "PLAT-3",
      namespaces: ["team-b"],
      groups: ["data-admins"],
      rules: ["ordinal-out-of-range"],
    },
    {
      name: "old-migration",
      reason: "PLAT-0",
      expires: "2020-01-01T00:00:00Z",
      namespaces: ["lapsed"],
    },
  ],
};

const NAMESPACES = {
  enforced: {},
  warned: { rollout: "warn" },
  monitored: { rollout: "monitor" },
  skipped: { rollout: "off" },
  legacy: {},
  "team-b": {},
  lapsed: {},
};

const theWorld = useWebhookWorld({ config: CONFIG, namespaces: NAMESPACES }, async (world) => {
  await world.api.apply(
    Object.keys(NAMESPACES).map((namespace) => statefulSet(namespace, "web", { replicas: 1 })),
  );
  // alice, bob and carol may write Services in team-b. (Not the bootstrap ClusterRole "edit":
  // its rules are aggregated by kube-controller-manager, which this cluster does not run.)
  await world.api.apply([
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "service-writer", namespace: "team-b" },
      rules: [{ apiGroups: [""], resources: ["services"], verbs: ["get", "list", "create"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "editors", namespace: "team-b" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "service-writer" },
      subjects: ["alice", "bob", "carol"].map((name) => ({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "User",
        name,
      })),
    },
  ]);
});

/** A LoadBalancer Service for web-3 (StatefulSet web has one pod): out of range, unfixed. */
const web3 = (namespace: string): Json =>
  perPodService(namespace, "web-3", { type: "LoadBalancer", externalTrafficPolicy: "Cluster" });

const create = (object: Json, as?: Identity): Promise<Outcome> =>
  kubectlWith(theWorld().api, ["create", "-f", "-"], object, as ? { as } : {});
const dryRun = (object: Json, as?: Identity): Promise<Outcome> =>
  kubectlWith(theWorld().api, ["create", "--dry-run=server", "-f", "-"], object, as ? { as } : {});
const stored = (namespace: string, name: string): Promise<StoredService | null> =>
  theWorld().api.get<StoredService>("service", name, namespace);

const OUT_OF_RANGE = (namespace: string): string =>
  `ordinal-out-of-range: Service ${namespace}/web-3 selects pod web-3, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`;

function metricValue(scrape: string, series: string): number {
  const line = scrape.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("namespace modes from Namespace labels", () => {
  it("enforce (no label): denied", async () => {
    const outcome = await create(web3("enforced"));
    expect(outcome).toEqual({
      code: 1,
      warnings: [],
      error: denied(OUT_OF_RANGE("enforced"), "creating"),
      stdout: "",
    });
  });

  it("warn: admitted with a warning that says it would have been denied, and fixed", async () => {
    const outcome = await create(web3("warned"));
    expect(outcome).toEqual({
      code: 0,
      warnings: [
        `ordinal-out-of-range: would have been denied (namespace warned is in warn mode): Service warned/web-3 selects pod web-3, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
      ],
      error: "",
      stdout: "service/web-3 created",
    });
    const service = await stored("warned", "web-3");
    expect(service?.metadata.labels).toEqual(requiredLabels("web", 3));
    expect(service?.spec.externalTrafficPolicy).toBe("Local");
  });

  it("monitor: admitted silently and unchanged; logged and counted as what enforce would do", async () => {
    const outcome = await create(web3("monitored"));
    expect(outcome).toEqual({
      code: 0,
      warnings: [],
      error: "",
      stdout: "service/web-3 created",
    });
    const service = await stored("monitored", "web-3");
    expect(service?.metadata.labels).toBeUndefined();
    expect(service?.spec.externalTrafficPolicy).toBe("Cluster");
    const lines = await eventually(() => {
      const found = theWorld()
        .serve.logs()
        .filter(
          (l) =>
            l["msg"] === "admission" && l["namespace"] === "monitored" && l["kind"] === "Service",
        );
      return found.length === 2 ? found : undefined;
    }, "serve's admission log lines for namespace monitored");
    expect(
      lines.map((l) => [l["endpoint"], l["decision"], l["mode"], l["monitored"], l["rules"]]),
    ).toEqual([
      [
        "mutate",
        "patched",
        "monitor",
        true,
        ["ordinal-out-of-range", "external-traffic-policy", "missing-labels"],
      ],
      [
        "validate",
        "denied",
        "monitor",
        true,
        ["ordinal-out-of-range", "external-traffic-policy", "missing-labels"],
      ],
    ]);
    const scrape = await theWorld().serve.metrics();
    expect(
      metricValue(
        scrape,
        'stsguard_admission_requests_total{endpoint="validate",decision="denied",mode="monitor"}',
      ),
    ).toBe(1);
  });

  it("off: admitted untouched, not even judged", async () => {
    const outcome = await create(web3("skipped"));
    expect(outcome).toMatchObject({ code: 0, warnings: [], error: "" });
    const service = await stored("skipped", "web-3");
    expect(service?.metadata.labels).toBeUndefined();
    expect(service?.spec.externalTrafficPolicy).toBe("Cluster");
  });

  it("a namespace relabelled from warn to enforce is enforced, without a restart", async () => {
    await theWorld().api.kubectl(["label", "namespace", "warned", "rollout-"]);
    const outcome = await eventually(async () => {
      const answer = await dryRun(perPodService("warned", "web-4", { type: "LoadBalancer" }));
      return answer.code === 1 ? answer : undefined;
    }, "namespace warned to be enforced");
    expect(outcome.error).toBe(
      denied(
        "ordinal-out-of-range: Service warned/web-4 selects pod web-4, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal",
        "creating",
      ),
    );
  });
});

describe("exemptions", () => {
  it("by namespace and rule: the error becomes a warning naming the exemption", async () => {
    const outcome = await create(web3("legacy"));
    expect(outcome).toEqual({
      code: 0,
      warnings: [
        `ordinal-out-of-range: exempted by lb-migration (PLAT-1, approved by the platform team) until ${FAR}: Service legacy/web-3 selects pod web-3, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
      ],
      error: "",
      stdout: "service/web-3 created",
    });
    // The other rules still apply: the fixes were made.
    expect((await stored("legacy", "web-3"))?.metadata.labels).toEqual(requiredLabels("web", 3));
    const scrape = await theWorld().serve.metrics();
    expect(metricValue(scrape, 'stsguard_exemptions_applied_total{exemption="lb-migration"}')).toBe(
      1,
    );
  });

  it("by namespace and rule: another rule's error is still denied there", async () => {
    const outcome = await create(perPodService("legacy", "web-x", { pod: "web-01" }));
    expect(outcome.error).toBe(
      denied(
        'malformed-pod-name: Service legacy/web-x selects pod "web-01", which is not "<statefulset>-<ordinal>" with a plain decimal ordinal, so it matches no StatefulSet pod; fix the statefulset.kubernetes.io/pod-name selector',
        "creating",
      ),
    );
  });

  it("by user: alice (impersonated) is exempted, bob is not", async () => {
    const alice = await create(web3("team-b"), { user: "alice" });
    expect(alice).toEqual({
      code: 0,
      warnings: [
        `ordinal-out-of-range: exempted by deployer (PLAT-2, the release pipeline) with no expiry: Service team-b/web-3 selects pod web-3, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
      ],
      error: "",
      stdout: "service/web-3 created",
    });
    const bob = await create(perPodService("team-b", "web-5"), { user: "bob" });
    expect(bob.error).toBe(
      denied(
        "ordinal-out-of-range: Service team-b/web-5 selects pod web-5, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal",
        "creating",
      ),
    );
  });

  it("by group: carol in data-admins is exempted", async () => {
    const outcome = await create(perPodService("team-b", "web-6"), {
      user: "carol",
      groups: ["data-admins"],
    });
    expect(outcome).toMatchObject({ code: 0, error: "" });
    expect(outcome.warnings).toEqual([
      `ordinal-out-of-range: exempted by data-admins (PLAT-3) with no expiry: Service team-b/web-6 selects pod web-6, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
    ]);
  });

  it("expired: denied, and the denial says which exemption lapsed when", async () => {
    const outcome = await create(web3("lapsed"));
    expect(outcome.error).toBe(
      denied(
        "ordinal-out-of-range: exemption old-migration (PLAT-0) expired at 2020-01-01T00:00:00Z: Service lapsed/web-3 selects pod web-3, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal",
        "creating",
      ),
    );
    expect(await stored("lapsed", "web-3")).toBeNull();
  });
});

/** Answers of the API server to a dry-run create, straight over HTTPS (no kubectl per request). */
interface Answer {
  readonly status: number;
  readonly message: string;
  readonly warning: string;
}

function postDryRun(agent: https.Agent, body: Json, namespace: string): Promise<Answer> {
  const api = theWorld().api;
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${api.apiserverUrl}/api/v1/namespaces/${namespace}/services?dryRun=All`,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${api.adminToken}`,
          "content-type": "application/json",
        },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => {
          const parsed = JSON.parse(text) as { message?: string };
          resolve({
            status: response.statusCode ?? 0,
            message: parsed.message ?? "",
            warning: response.headers["warning"] ?? "",
          });
        });
      },
    );
    request.on("error", reject);
    request.end(JSON.stringify(body));
  });
}

describe("a configuration reload while requests flow", () => {
  it("every request is answered whole by the old or the new configuration, none fails", async () => {
    const serve = theWorld().serve;
    const agent = new https.Agent({
      ca: readFileSync(theWorld().api.caFile),
      keepAlive: true,
    });
    const body = perPodService("enforced", "web-3", { type: "LoadBalancer" });
    const old: Answer = {
      status: 403,
      message: `admission webhook "validate.stsguard.io" denied the request: ${OUT_OF_RANGE("enforced")}`,
      warning: "",
    };
    const renewed: Answer = {
      status: 201,
      message: "",
      warning: `299 - "ordinal-out-of-range: would have been denied (namespace enforced is in warn mode): ${OUT_OF_RANGE("enforced").slice("ordinal-out-of-range: ".length)}"`,
    };
    const answers: string[][] = [[], [], [], []];
    let stopAt = Number.POSITIVE_INFINITY;
    const worker = async (seen: string[]): Promise<void> => {
      while (Date.now() < stopAt) {
        const answer = await postDryRun(agent, body, "enforced");
        if (
          answer.status === old.status &&
          answer.message === old.message &&
          answer.warning === ""
        ) {
          seen.push("old");
        } else if (answer.status === renewed.status && answer.warning === renewed.warning) {
          seen.push("new");
        } else {
          seen.push(`unexpected ${JSON.stringify(answer)}`);
        }
      }
    };
    const running = Promise.all(answers.map((seen) => worker(seen)));
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      serve.writeConfig({ ...CONFIG, mode: "warn" });
      await eventually(
        () => (answers.every((seen) => seen.at(-1) === "new") ? true : undefined),
        "every worker to be answered by the new configuration",
        20_000,
        50,
      );
      stopAt = Date.now() + 1000;
      await running;
    } finally {
      stopAt = 0;
      agent.destroy();
    }
    for (const seen of answers) {
      expect(seen.filter((a) => a !== "old" && a !== "new")).toEqual([]);
      // Sequential requests of one worker never go back to the old configuration.
      const firstNew = seen.indexOf("new");
      expect(firstNew).toBeGreaterThan(0);
      expect(seen.slice(firstNew).every((a) => a === "new")).toBe(true);
    }
    expect(answers.flat().length).toBeGreaterThan(40);
    const scrape = await serve.metrics();
    expect(metricValue(scrape, 'stsguard_config_reloads_total{outcome="applied"}')).toBe(1);
  });

  it("a configuration that does not validate is refused, and the running one keeps answering", async () => {
    const serve = theWorld().serve;
    serve.writeConfig({ ...CONFIG, mode: "lenient" });
    await eventually(async () => {
      const scrape = await serve.metrics();
      return metricValue(scrape, 'stsguard_config_reloads_total{outcome="rejected"}') === 1
        ? true
        : undefined;
    }, "serve to reject the configuration");
    // Log lines are written in batches: wait for the line the counter already counted.
    const errors = await eventually(() => {
      const found = serve.logs().filter((l) => l["level"] === "error");
      return found.length > 0 ? found : undefined;
    }, "the rejection's log line");
    expect(errors.map((l) => l["msg"])).toEqual([
      `configuration rejected, still running the previous one: ${String(serve.configFile)}: mode: must be one of enforce, warn, monitor, off, not "lenient"`,
    ]);
    const outcome = await dryRun(perPodService("enforced", "web-4", { type: "LoadBalancer" }));
    expect(outcome.code).toBe(0);
    expect(outcome.warnings).toEqual([
      "ordinal-out-of-range: would have been denied (namespace enforced is in warn mode): Service enforced/web-4 selects pod web-4, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal",
    ]);
  });

  it("an exemption that expires while serve runs applies until its instant, then no longer", async () => {
    const serve = theWorld().serve;
    const expires = new Date(Date.now() + 4000);
    expires.setMilliseconds(0);
    const instant = expires.toISOString().replace(".000Z", "Z");
    serve.writeConfig({
      ...CONFIG,
      exemptions: [
        ...CONFIG.exemptions,
        { name: "short", reason: "PLAT-4", expires: instant, namespaces: ["enforced"] },
      ],
    });
    const before = await eventually(async () => {
      const answer = await dryRun(perPodService("enforced", "web-7", { type: "LoadBalancer" }));
      return answer.warnings.length > 0 ? answer : undefined;
    }, "the exemption to apply");
    expect(before).toMatchObject({ code: 0, error: "" });
    expect(before.warnings).toEqual([
      `ordinal-out-of-range: exempted by short (PLAT-4) until ${instant}: Service enforced/web-7 selects pod web-7, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
    ]);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, expires.getTime() - Date.now())),
    );
    const after = await dryRun(perPodService("enforced", "web-7", { type: "LoadBalancer" }));
    expect(after.error).toBe(
      denied(
        `ordinal-out-of-range: exemption short (PLAT-4) expired at ${instant}: Service enforced/web-7 selects pod web-7, but StatefulSet web has 1 replica (ordinal 0); scale it up or select an existing ordinal`,
        "creating",
      ),
    );
  });
});
