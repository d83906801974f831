/**
 * Generated Services for the differential test against the real API server: deterministic (a
 * fixed fast-check seed), mostly bodies the API server's validation accepts, covering malformed
 * targets, StatefulSet names with digits, leading zeros, int32 bounds, every Service type,
 * externalIPs, labels right / wrong / missing for two label prefixes and fixed extra labels, and
 * every externalTrafficPolicy. A few bodies are invalid on purpose (validation refuses them
 * before any admission policy runs: the test checks that too).
 */
import fc from "fast-check";
import { POD_NAME_KEY, type ApiObject } from "./policies.js";

const TARGETS = [
  "web-0",
  "web-1",
  "web-01",
  "web-00",
  "redis-2-0",
  "redis-2-01",
  "redis-2-10",
  "a-b-c-12",
  "0-0",
  "1-2-3",
  "Web-0",
  "web_0",
  "web.0",
  "web",
  "",
  "0",
  "web-2147483647",
  "web-2147483648",
  "web-9999999999",
  "web-10000000000",
  "web-02147483647",
  `${"a".repeat(61)}-0`,
  `${"a".repeat(60)}-10`,
  // 64 characters: not a label value, so validation refuses the Service.
  `${"a".repeat(62)}-0`,
  "-0",
  "web-",
];

const targetArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TARGETS) },
  {
    weight: 4,
    arbitrary: fc.stringMatching(
      /^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?-(0|[1-9][0-9]{0,3}|[1-9][0-9]{9,10}|0[0-9]{1,2})$/,
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,8}[a-zA-Z0-9])?$/) },
);

/** `<sts>`, `<ordinal>` split at the last dash, as the engine splits a well-formed target. */
function split(target: string): [string, string] {
  const dash = target.lastIndexOf("-");
  return dash < 0 ? [target, ""] : [target.slice(0, dash), target.slice(dash + 1)];
}

const WRONG = ["web", "redis-2", "redis", "0", "1", "01", "2-0", "", "a"];

function labelsArb(target: string): fc.Arbitrary<Record<string, string>> {
  const [sts, ordinal] = split(target);
  // Right values weigh most, so that many Services pass and one wrong label decides.
  const value = (right: string): fc.Arbitrary<string | undefined> =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(right) },
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.constantFrom(...WRONG) },
    );
  return fc
    .record({
      "stsguard.io/statefulset": value(sts),
      "stsguard.io/ordinal": value(ordinal),
      "acme.example/statefulset": value(sts),
      "acme.example/ordinal": value(ordinal),
      "example.com/owner": value("platform"),
      app: value("web"),
    })
    .map((labels) => {
      const out: Record<string, string> = {};
      for (const [key, v] of Object.entries(labels)) if (v !== undefined) out[key] = v;
      return out;
    });
}

type Kind = "ClusterIP" | "headless" | "unset" | "NodePort" | "LoadBalancer" | "ExternalName";

const serviceArb = (name: string): fc.Arbitrary<ApiObject> =>
  targetArb.chain((target) =>
    fc
      .record({
        kind: fc.constantFrom<Kind>(
          "ClusterIP",
          "headless",
          "unset",
          "NodePort",
          "LoadBalancer",
          "LoadBalancer",
          "ExternalName",
        ),
        policy: fc.constantFrom<string | undefined>("Local", "Local", "Cluster", undefined),
        // One in 16 sets a policy where validation refuses it (not NodePort or LoadBalancer).
        strayPolicy: fc.integer({ min: 0, max: 15 }).map((n) => n === 0),
        externalIPs: fc.constantFrom<string[] | undefined>(undefined, undefined, ["192.0.2.10"]),
        labels: fc.option(labelsArb(target), { nil: undefined, freq: 8 }),
        selectorShape: fc.constantFrom("pod", "pod", "pod", "pod+app", "pod+index", "app"),
      })
      .map((r): ApiObject => {
        const selector: Record<string, string> =
          r.selectorShape === "app" ? { app: "web" } : { [POD_NAME_KEY]: target };
        if (r.selectorShape === "pod+app") selector["app"] = "web";
        if (r.selectorShape === "pod+index") selector["apps.kubernetes.io/pod-index"] = "0";
        const spec: Record<string, unknown> = { selector };
        if (r.kind === "ExternalName") {
          spec["type"] = "ExternalName";
          spec["externalName"] = "db.example.com";
        } else {
          spec["ports"] = [{ name: "http", port: 80 }];
          if (r.kind === "headless") spec["clusterIP"] = "None";
          if (r.kind !== "unset" && r.kind !== "headless") spec["type"] = r.kind;
          if (r.externalIPs && r.kind !== "headless") spec["externalIPs"] = r.externalIPs;
          const external = r.kind === "NodePort" || r.kind === "LoadBalancer";
          if ((external || r.strayPolicy) && r.policy !== undefined) {
            spec["externalTrafficPolicy"] = r.policy;
          }
        }
        return {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name, ...(r.labels ? { labels: r.labels } : {}) },
          spec,
        };
      }),
  );

/** `count` Services named `<prefix>-<i>`, the same on every run. */
export function generateServices(prefix: string, count: number, seed: number): ApiObject[] {
  return Array.from(
    { length: count },
    (_, i) =>
      fc.sample(serviceArb(`${prefix}-${i}`), { seed: seed + i, numRuns: 1 })[0] as ApiObject,
  );
}

/**
 * The new object of an UPDATE of each generated `olds`: half the time the same body with one
 * annotation more (so what it already broke is kept), otherwise another generated Service under
 * the same name.
 */
export function generateUpdates(olds: readonly ApiObject[], seed: number): ApiObject[] {
  return olds.map((old, i) => {
    const name = (old["metadata"] as { name: string }).name;
    if (i % 2 === 0) {
      const next = structuredClone(old);
      const metadata = next["metadata"] as { annotations?: Record<string, string> };
      metadata.annotations = { ...metadata.annotations, "example.com/touched": "yes" };
      return next;
    }
    return fc.sample(serviceArb(name), { seed: seed + i, numRuns: 1 })[0] as ApiObject;
  });
}
