// admit() per mode where the table of one-answer.test.ts does not reach: lookup failures,
// StatefulSet scale-downs, and namespace labels read from the cluster's namespace cache.
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { admit, type AdmitDeps } from "../../src/admission/admit.js";
import { parseConfig, type StsguardConfig } from "../../src/config/config.js";
import { createNamespaceCache } from "../../src/kube/namespace-cache.js";
import { LookupError } from "../../src/errors.js";
import { createStaticSource, type StatefulSetSource } from "../../src/statefulsets/source.js";
import {
  aRequest,
  governingService,
  perPodService,
  summarize,
  web,
} from "../admission/admission-inputs.js";
import { FakeApiServer } from "../helpers/fake-apiserver.js";
import { aService, aStatefulSet } from "../helpers/objects.js";

const config = (mode: string, extra = ""): StsguardConfig =>
  parseConfig(`mode: ${mode}\n${extra}`, "stsguard.yaml");

const unreadable: StatefulSetSource = {
  lookup: () => Promise.resolve({ status: "unavailable", reason: "API server did not answer" }),
  lookupCached: () => null,
  lookupLive: () => Promise.resolve({ status: "unavailable", reason: "API server did not answer" }),
  perPodServices: () => Promise.reject(new LookupError("API server did not answer")),
  lookupService: () =>
    Promise.resolve({ status: "unavailable", reason: "API server did not answer" }),
  autoscalers: () => Promise.reject(new LookupError("API server did not answer")),
  autoscalersLive: () => Promise.reject(new LookupError("API server did not answer")),
  isReady: () => true,
  close: () => Promise.resolve(),
};

describe("a StatefulSet that cannot be read (onLookupFailure: deny)", () => {
  const request = aRequest({ object: aService({ podName: "web-1" }) });

  it("enforce: denied with 503", async () => {
    const result = await admit(request, "validate", {
      source: unreadable,
      config: config("enforce"),
    });
    expect(result.allowed).toBe(false);
    expect(result.status?.code).toBe(503);
  });

  it("warn: allowed, with a warning that it would have been denied", async () => {
    const result = await admit(request, "validate", { source: unreadable, config: config("warn") });
    expect(result.allowed).toBe(true);
    expect(result.warnings).toEqual([
      expect.stringMatching(
        /^would have been denied \(namespace is in warn mode\): lookup-failure: /,
      ),
    ]);
  });

  it("monitor: allowed silently, counted as a denial enforce would have made", async () => {
    const result = await admit(request, "validate", {
      source: unreadable,
      config: config("monitor"),
    });
    expect(result).toMatchObject({ allowed: true, warnings: [], monitored: { allowed: false } });
  });

  it("off: allowed without asking the source at all", async () => {
    const result = await admit(request, "validate", {
      source: { ...unreadable, lookup: () => Promise.reject(new Error("must not be called")) },
      config: config("off"),
    });
    expect(result).toMatchObject({ allowed: true, guardMode: "off", warnings: [] });
  });
});

describe("a StatefulSet scale-down that orphans a per-pod Service (orphaned-service: error)", () => {
  const source = createStaticSource(
    [web],
    [perPodService("web-1", "web-1")],
    [governingService("web")],
  );
  const scaleDown = aRequest({
    kind: { group: "apps", version: "v1", kind: "StatefulSet" },
    resource: { group: "apps", version: "v1", resource: "statefulsets" },
    operation: "UPDATE",
    object: aStatefulSet({ name: "web", replicas: 1 }),
    oldObject: aStatefulSet({ name: "web", replicas: 2 }),
  });
  const rules = "rules: {orphaned-service: error}\npreexistingViolations: enforce\n";

  it.each([
    { mode: "enforce", allowed: false, warnings: 0 },
    { mode: "warn", allowed: true, warnings: 1 },
    { mode: "monitor", allowed: true, warnings: 0 },
    { mode: "off", allowed: true, warnings: 0 },
  ])("$mode", async ({ mode, allowed, warnings }) => {
    const result = await admit(scaleDown, "validate", { source, config: config(mode, rules) });
    expect(result.allowed).toBe(allowed);
    expect(result.warnings).toHaveLength(warnings);
  });

  it("is exempted by statefulSets", async () => {
    const result = await admit(scaleDown, "validate", {
      source,
      config: config(
        "enforce",
        `${rules}exemptions: [{name: shrink, reason: OPS-1, namespaces: [demo], statefulSets: [web]}]`,
      ),
    });
    expect(result.allowed).toBe(true);
    expect(result.exemptions).toEqual(["shrink"]);
    expect(result.warnings[0]).toMatch(
      /^orphaned-service: exempted by shrink \(OPS-1\) with no expiry: /,
    );
  });
});

describe("namespace labels from the cluster's namespace cache, while its watch lags", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const namespace = (name: string, labels: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels },
  });
  async function start(): Promise<{ server: FakeApiServer; deps: AdmitDeps }> {
    const server = await FakeApiServer.start();
    cleanups.push(() => server.close());
    server.apply("namespaces", namespace("demo", { env: "sandbox" }));
    const namespaces = createNamespaceCache({
      kubeConfig: server.kubeConfig(),
      logger: pino({ level: "silent" }),
      backoff: { initialMs: 10, maxMs: 40 },
    });
    cleanups.push(() => namespaces.close());
    await namespaces.start();
    const deps = {
      source: createStaticSource([summarize(aStatefulSet({ name: "web", replicas: 2 }))]),
      namespaces,
      config: config("warn", "namespaces: [{selector: {matchLabels: {env: prod}}, mode: enforce}]"),
    };
    return { server, deps };
  }

  // A relabelled namespace moving from warn to enforce is proven against a real API server in
  // test/e2e/webhook-modes.e2e.test.ts. Why a test API server here: its namespace watch is
  // stalled on demand, so a namespace exists that the cache has not been told about yet.
  it("answers from the cache at once, and reads a namespace the watch has not delivered yet first", async () => {
    const { server, deps } = await start();
    const known = admit(aRequest({ object: aService({ podName: "web-0" }) }), "validate", deps);
    expect(known).not.toBeInstanceOf(Promise);
    expect(known).toMatchObject({ allowed: true, guardMode: "warn" });
    server.stallWatches();
    // Unknown labels would count as the strictest rule (enforce): only the read says warn.
    server.apply("namespaces", namespace("brand-new", { env: "sandbox" }));
    const object = aService({ podName: "web-0", namespace: "brand-new" });
    const pending = admit(aRequest({ namespace: "brand-new", object }), "validate", deps);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toMatchObject({ guardMode: "warn" });
    expect(server.getRequests("/api/v1/namespaces/brand-new")).toHaveLength(1);
  });
});
