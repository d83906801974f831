import { describe, expect, it } from "vitest";
import { admit } from "../../src/admission/admit.js";
import type { AdmissionRequest } from "../../src/admission/types.js";
import { LookupError } from "../../src/errors.js";
import type { StatefulSetLookup } from "../../src/policy/index.js";
import { createStaticSource, type StatefulSetSource } from "../../src/statefulsets/source.js";
import { aService, aStatefulSet, stsguardLabels } from "../helpers/objects.js";
import {
  aRequest,
  applyAdmissionPatch,
  configFor,
  fixtureSource,
  perPodService,
  requestFromFixture,
  splitSource,
  web,
} from "./admission-inputs.js";

const config = configFor("1.36");
const found = (replicas: number): StatefulSetLookup => ({
  status: "found",
  statefulSet: { ...web, replicas },
});
const notFound: StatefulSetLookup = { status: "not-found" };
const unavailable: StatefulSetLookup = {
  status: "unavailable",
  reason:
    "GET https://10.96.0.1/apis/apps/v1/namespaces/demo/statefulsets/web: no answer within 2000 ms",
};

/** A CREATE of a labelled ClusterIP per-pod Service for `pod`: only the StatefulSet rules can fire. */
function serviceFor(pod: string, extra: Parameters<typeof aService>[0] = {}): AdmissionRequest {
  return aRequest({ object: aService({ podName: pod, ...extra }) });
}

describe("admit: a denial that rests on the cache is confirmed live", () => {
  const rows = [
    {
      name: "allows web-2 when the cache says 1 replica but the API server says 3",
      cached: found(1),
      live: found(3),
      pod: "web-2",
      allowed: true,
      liveReads: 1,
      rules: [],
    },
    {
      name: "warns statefulset-not-found from a fresh cache without a live read (only a warning)",
      cached: notFound,
      live: found(2),
      pod: "web-1",
      allowed: true,
      liveReads: 0,
      rules: ["statefulset-not-found"],
    },
    {
      name: "denies when the live read agrees the ordinal is out of range",
      cached: found(1),
      live: found(1),
      pod: "web-2",
      allowed: false,
      liveReads: 1,
      rules: ["ordinal-out-of-range"],
    },
    {
      name: "does not read live when the cache answer breaks no rule (the hot path)",
      cached: found(3),
      live: found(0),
      pod: "web-2",
      allowed: true,
      liveReads: 0,
      rules: [],
    },
  ];

  it.each(rows)("$name", async ({ cached, live, pod, allowed, liveReads, rules }) => {
    const source = splitSource(cached, live);
    const result = await admit(serviceFor(pod), "validate", { source, config });
    expect(result.allowed).toBe(allowed);
    expect(source.liveReads).toBe(liveReads);
    expect(result.findings.map((f) => f.rule)).toEqual(rules);
    if (!allowed) {
      expect(result.status).toMatchObject({ code: 403, reason: "Forbidden" });
      expect(result.status?.message).toMatch(/^ordinal-out-of-range: Service demo\/web-2 /);
    }
  });

  it.each([
    {
      name: "the cache has not seen the StatefulSet yet",
      live: found(2),
      allowed: true,
      rules: [],
    },
    {
      name: "the live read agrees it does not exist",
      live: notFound,
      allowed: false,
      rules: ["statefulset-not-found"],
    },
  ])(
    "confirms statefulset-not-found live when it is an error: $name",
    async ({ live, allowed, rules }) => {
      const source = splitSource(notFound, live);
      const strict = configFor("1.36", {
        policy: { severities: { ...config.policy.severities, "statefulset-not-found": "error" } },
      });
      const result = await admit(serviceFor("web-1"), "validate", { source, config: strict });
      expect(source.liveReads).toBe(1);
      expect(result.allowed).toBe(allowed);
      expect(result.findings.map((f) => f.rule)).toEqual(rules);
    },
  );

  it("confirms a selector-mismatch live before denying", async () => {
    const stale = { status: "found", statefulSet: { ...web, podLabels: { app: "old" } } } as const;
    const source = splitSource(stale, found(2));
    const request = serviceFor("web-0", { extraSelector: { app: "web" } });
    const result = await admit(request, "validate", { source, config });
    expect(source.liveReads).toBe(1);
    expect(result.allowed).toBe(true);
  });

  it("copies StatefulSet labels in /mutate from a live read when the cache has not seen it", async () => {
    const withTeam = { ...web, labels: { team: "payments" } };
    const source = splitSource(notFound, { status: "found", statefulSet: withTeam });
    const teamConfig = configFor("1.36", {
      policy: { extraLabels: [{ key: "example.com/team", fromStatefulSetLabel: "team" }] },
    });
    const request = serviceFor("web-0");
    const result = await admit(request, "mutate", { source, config: teamConfig });
    const patched = applyAdmissionPatch(request.object, result.patch) as {
      metadata: { labels: Record<string, string> };
    };
    expect(patched.metadata.labels["example.com/team"]).toBe("payments");
    expect(result.patch.map((op) => op.path)).toEqual(["/metadata/labels/example.com~1team"]);
  });
});

describe("admit: when the StatefulSet cannot be read", () => {
  const failing: StatefulSetSource = {
    lookup: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    lookupCached: () => null,
    lookupLive: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    perPodServices: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    lookupService: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    autoscalers: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    autoscalersLive: () => Promise.reject(new LookupError("connect ECONNREFUSED 10.96.0.1:443")),
    isReady: () => true,
    close: () => Promise.resolve(),
  };
  const rows = [
    { name: "source answers unavailable", source: splitSource(unavailable, unavailable) },
    { name: "source throws LookupError", source: failing },
    { name: "live confirmation fails", source: splitSource(found(1), unavailable) },
  ];

  it.each(rows)("denies with a message naming the StatefulSet ($name)", async ({ source }) => {
    const result = await admit(serviceFor("web-2"), "validate", { source, config });
    expect(result.allowed).toBe(false);
    expect(result.status).toMatchObject({ code: 503, reason: "ServiceUnavailable" });
    expect(result.status?.message).toMatch(
      /^lookup-failure: StatefulSet demo\/web could not be read \(.+\), so Service demo\/web-2 could not be checked/,
    );
    expect(result.lookupFailure).not.toBeNull();
  });

  it.each(rows)(
    "allows with a warning under onLookupFailure: allow ($name)",
    async ({ source }) => {
      const allowConfig = configFor("1.36", { onLookupFailure: "allow" });
      const result = await admit(serviceFor("web-2"), "validate", {
        source,
        config: allowConfig,
      });
      expect(result.allowed).toBe(true);
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings[0]).toMatch(
        /^lookup-failure: Service demo\/web-2 admitted without checking StatefulSet demo\/web \(onLookupFailure: allow\): /,
      );
    },
  );

  it("lists policy errors with the lookup failure (403) when both apply", async () => {
    const request = aRequest({ object: aService({ podName: "web-0", noLabels: true }) });
    const result = await admit(request, "validate", {
      source: splitSource(unavailable, unavailable),
      config,
    });
    expect(result.status?.code).toBe(403);
    expect(result.status?.message).toMatch(/^missing-labels: .*; lookup-failure: StatefulSet/);
  });

  it("still mutates what needs no StatefulSet, and never denies in /mutate", async () => {
    const request = aRequest({ object: aService({ podName: "web-0", noLabels: true }) });
    const result = await admit(request, "mutate", {
      source: splitSource(unavailable, unavailable),
      config,
    });
    expect(result.allowed).toBe(true);
    expect(result.patch).toEqual([
      { op: "add", path: "/metadata/labels", value: stsguardLabels("web-0") },
    ]);
  });

  it("lets an error that is not a lookup failure through (the server answers 500)", async () => {
    const broken = { ...failing, lookup: () => Promise.reject(new TypeError("bug")) };
    await expect(
      admit(serviceFor("web-0"), "validate", { source: broken, config }),
    ).rejects.toThrow(TypeError);
  });
});

describe("admit: answers from memory synchronously, reads through a promise", () => {
  const rows = [
    { name: "the StatefulSet is cached", source: splitSource(found(2), found(2)), sync: true },
    {
      name: "its absence is cached (a warning)",
      source: splitSource(notFound, found(2)),
      sync: true,
    },
    // Out of range in the cache: a denial is confirmed by a live read first.
    { name: "the cache would deny", source: splitSource(found(1), found(1)), sync: false },
    { name: "the cache cannot answer", source: splitSource(unavailable, unavailable), sync: false },
  ];
  it.each(rows)("$name: sync $sync", async ({ source, sync }) => {
    const pending = admit(serviceFor("web-1"), "validate", { source, config });
    expect(pending instanceof Promise).toBe(!sync);
    // Either way the same verdict as awaited.
    expect(await pending).toEqual(await admit(serviceFor("web-1"), "validate", { source, config }));
  });
});

describe("admit: UPDATE of an object that already broke a rule", () => {
  it("only warns for the rule the old object broke", async () => {
    const old = aService({ podName: "web-0", noLabels: true });
    const next = aService({ podName: "web-0", labels: { app: "web" } });
    const request = aRequest({ operation: "UPDATE", object: next, oldObject: old });
    const result = await admit(request, "validate", { source: fixtureSource(), config });
    expect(result.allowed).toBe(true);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^missing-labels: .*already so before this update/);
  });

  it("denies a rule the update newly breaks", async () => {
    const old = aService({
      podName: "web-0",
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
    });
    const next = aService({
      podName: "web-0",
      type: "LoadBalancer",
      externalTrafficPolicy: "Cluster",
    });
    const request = aRequest({ operation: "UPDATE", object: next, oldObject: old });
    const result = await admit(request, "validate", { source: fixtureSource(), config });
    expect(result.allowed).toBe(false);
    expect(result.status?.message).toMatch(/^external-traffic-policy: /);
  });

  it("enforces old violations too with preexistingViolations: enforce", async () => {
    const request = requestFromFixture("service-update-merge-patch.at-validating");
    const enforce = configFor("1.26", { policy: { preexistingViolations: "enforce" } });
    const result = await admit(request, "validate", { source: fixtureSource(), config: enforce });
    expect(result.allowed).toBe(false);
    expect(result.status?.message).toMatch(/^missing-labels: /);
  });
});

describe("admit: StatefulSet changes and scales (orphaned-service)", () => {
  const scaleRequest = (replicas: number, oldReplicas = 2): AdmissionRequest => {
    const request = requestFromFixture("statefulset-scale-update.at-validating");
    const spec = (o: unknown): Record<string, unknown> =>
      (o as { spec: Record<string, unknown> }).spec;
    // ScaleSpec.replicas is omitempty: zero replicas arrive as no field at all.
    if (replicas === 0) delete spec(request.object)["replicas"];
    else spec(request.object)["replicas"] = replicas;
    spec(request.oldObject)["replicas"] = oldReplicas;
    return request;
  };

  it("warns when a scale to 1 leaves the per-pod Service of web-1 selecting nothing", async () => {
    const source = fixtureSource([perPodService("web-1-lb", "web-1")]);
    const result = await admit(scaleRequest(1), "validate", { source, config });
    expect(result.allowed).toBe(true);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(
      /^orphaned-service: StatefulSet demo\/web will have 1 replica \(ordinal 0\), so Service web-1-lb selects pod web-1/,
    );
  });

  const rows = [
    { name: "scale that keeps web-1 says nothing", replicas: 2, services: ["web-1"], warned: [] },
    { name: "scale to zero orphans web-0", replicas: 0, services: ["web-0"], warned: ["web-0"] },
    {
      name: "Services of other StatefulSets are not counted",
      replicas: 1,
      services: ["db-6"],
      warned: [],
    },
  ];
  it.each(rows)("$name", async ({ replicas, services, warned }) => {
    const source = fixtureSource(services.map((pod) => perPodService(`${pod}-svc`, pod)));
    const result = await admit(scaleRequest(replicas), "validate", { source, config });
    expect(result.findings.map((f) => f.message.match(/selects pod (\S+),/)?.[1])).toEqual(warned);
  });

  it("denies when orphaned-service is an error, but only warns for Services already orphaned", async () => {
    const strict = configFor("1.36", {
      policy: { severities: { ...config.policy.severities, "orphaned-service": "error" } },
    });
    const source = fixtureSource([perPodService("a", "web-1"), perPodService("b", "web-5")]);
    const result = await admit(scaleRequest(1), "validate", { source, config: strict });
    expect(result.allowed).toBe(false);
    expect(result.status?.message).toMatch(/^orphaned-service: .*Service a selects pod web-1/);
    expect(result.status?.message).not.toContain("web-5");
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(
      /Service b selects pod web-5.*already so before this update/,
    );
  });

  it("takes the StatefulSet's start ordinal from the source: db scaled to 1 keeps db-5 only", async () => {
    const request = scaleRequest(1);
    const source = fixtureSource([perPodService("db-5", "db-5"), perPodService("db-6", "db-6")]);
    const scaleDb = { ...request, name: "db" };
    const result = await admit(scaleDb, "validate", { source, config });
    expect(result.findings.map((f) => f.message.match(/selects pod (\S+),/)?.[1])).toEqual([
      "db-6",
    ]);
  });

  it("allows a scale with a warning when the StatefulSet cannot be read", async () => {
    const source = splitSource(unavailable, unavailable);
    const result = await admit(scaleRequest(1), "validate", { source, config });
    expect(result.allowed).toBe(true);
    expect(result.warnings[0]).toMatch(/^lookup-failure: orphaned per-pod Services not checked/);
  });

  it("denies that scale only when orphaned-service is an error and onLookupFailure is deny", async () => {
    const strict = configFor("1.36", {
      policy: { severities: { ...config.policy.severities, "orphaned-service": "error" } },
    });
    const source = splitSource(unavailable, unavailable);
    const result = await admit(scaleRequest(1), "validate", { source, config: strict });
    expect(result.allowed).toBe(false);
    expect(result.status?.code).toBe(503);
  });

  it("warns when a StatefulSet update lowers replicas below a per-pod Service", async () => {
    const source = fixtureSource([perPodService("web-2", "web-2")]);
    const request = aRequest({
      operation: "UPDATE",
      kind: { group: "apps", version: "v1", kind: "StatefulSet" },
      resource: { group: "apps", version: "v1", resource: "statefulsets" },
      object: aStatefulSet({ replicas: 2 }),
      oldObject: aStatefulSet({ replicas: 3 }),
    });
    const result = await admit(request, "validate", { source, config });
    expect(result.subject).toBe("statefulset");
    expect(result.warnings[0]).toMatch(/^orphaned-service: .*Service web-2 selects pod web-2/);
    expect(await admit(request, "mutate", { source, config })).toMatchObject({
      allowed: true,
      patch: [],
      warnings: [],
    });
  });

  it("warns when a StatefulSet is created with fewer replicas than its per-pod Services", async () => {
    const source = fixtureSource([perPodService("web-3", "web-3")]);
    const result = await admit(requestFromFixture("statefulset-create.at-validating"), "validate", {
      source,
      config,
    });
    expect(result.warnings[0]).toMatch(/^orphaned-service: .*Service web-3 selects pod web-3/);
  });
});

describe("admit: requests that are not for stsguard pass untouched", () => {
  const rows: { name: string; request: AdmissionRequest }[] = [
    {
      name: "a Service whose selector is a list",
      request: aRequest({ object: aService({ selector: ["statefulset.kubernetes.io/pod-name"] }) }),
    },
    {
      name: "an ExternalName Service with a pod-name selector",
      request: aRequest({ object: aService({ podName: "web-9", type: "ExternalName" }) }),
    },
    {
      name: "a Service without spec",
      request: aRequest({ object: { kind: "Service", metadata: {} } }),
    },
    { name: "a Service whose object is null", request: aRequest({ object: null }) },
    // What the chart's matchConditions skip where the API server has them (1.28+); before that
    // the webhook receives them and must let them through as cheaply.
    {
      name: "a Service without spec.selector",
      request: aRequest({ object: aService({ selector: undefined }) }),
    },
    {
      name: "a Service whose selector lacks the pod-name key",
      request: aRequest({ object: aService({ selector: { app: "web" }, type: "LoadBalancer" }) }),
    },
    {
      name: "a recorded headless Service that selects app: web",
      request: requestFromFixture("service-create-headless.at-mutating"),
    },
    {
      name: "DELETE of a per-pod Service",
      request: aRequest({
        operation: "DELETE",
        object: null,
        oldObject: aService({ podName: "web-9" }),
      }),
    },
    {
      name: "CONNECT",
      request: aRequest({ operation: "CONNECT", object: aService({ podName: "web-9" }) }),
    },
    {
      name: "services/status",
      request: aRequest({ subResource: "status", object: aService({ podName: "web-9" }) }),
    },
    {
      name: "a ConfigMap",
      request: aRequest({
        kind: { group: "", version: "v1", kind: "ConfigMap" },
        resource: { group: "", version: "v1", resource: "configmaps" },
        object: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" }, data: {} },
      }),
    },
    {
      name: "a Deployment scale",
      request: aRequest({
        operation: "UPDATE",
        kind: { group: "autoscaling", version: "v1", kind: "Scale" },
        resource: { group: "apps", version: "v1", resource: "deployments" },
        subResource: "scale",
        object: { kind: "Scale", spec: { replicas: 0 } },
        oldObject: { kind: "Scale", spec: { replicas: 5 } },
      }),
    },
  ];
  const neverCalled: StatefulSetSource = {
    lookup: () => Promise.reject(new Error("lookup must not be called")),
    lookupCached: () => {
      throw new Error("lookupCached must not be called");
    },
    lookupLive: () => Promise.reject(new Error("lookupLive must not be called")),
    perPodServices: () => Promise.reject(new Error("perPodServices must not be called")),
    lookupService: () => Promise.reject(new Error("lookupService must not be called")),
    autoscalers: () => Promise.reject(new Error("autoscalers must not be called")),
    autoscalersLive: () => Promise.reject(new Error("autoscalersLive must not be called")),
    isReady: () => true,
    close: () => Promise.resolve(),
  };

  it.each(rows)("$name", async ({ request }) => {
    for (const mode of ["mutate", "validate"] as const) {
      const result = await admit(request, mode, { source: neverCalled, config });
      expect(result).toMatchObject({ allowed: true, patch: [], warnings: [], subject: "ignored" });
    }
  });

  it("replaces labels: null with the required labels, and the patch applies", async () => {
    const request = aRequest({ object: aService({ podName: "web-0", labels: null }) });
    const result = await admit(request, "mutate", {
      source: createStaticSource([web]),
      config,
    });
    const patched = applyAdmissionPatch(request.object, result.patch) as {
      metadata: { labels: unknown };
    };
    expect(patched.metadata.labels).toEqual(stsguardLabels("web-0"));
  });
});

describe("admit: warnings the API server keeps", () => {
  it("makes each warning a single line of at most 256 characters", async () => {
    const source = fixtureSource(
      Array.from({ length: 40 }, (_, i) =>
        perPodService(`very-long-service-name-${"x".repeat(30)}-${i + 2}`, `web-${i + 2}`),
      ),
    );
    const request = requestFromFixture("statefulset-create.at-validating");
    const result = await admit(request, "validate", { source, config });
    expect(result.findings).toHaveLength(40);
    let total = 0;
    for (const warning of result.warnings) {
      expect(Array.from(warning).length).toBeLessThanOrEqual(256);
      expect(warning).not.toMatch(/\p{Cc}/u);
      total += Array.from(warning).length;
    }
    expect(total).toBeLessThanOrEqual(4096);
    expect(result.warnings.at(-1)).toMatch(/^stsguard: \d+ more warnings not shown$/);
  });
});
