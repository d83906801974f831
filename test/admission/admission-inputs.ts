/** Inputs for admission tests: the demo StatefulSets, configs, sources and review builders. */
import jsonPatch from "fast-json-patch";
import { parseReview } from "../../src/admission/review.js";
import type { AdmissionRequest, PatchOperation } from "../../src/admission/types.js";
import {
  defaultConfig,
  parseKubeVersion,
  withKubeVersion,
  type StsguardConfig,
} from "../../src/config/config.js";
import {
  summarizeStatefulSet,
  type PerPodServiceSummary,
  type ServiceSummary,
  type StatefulSetLookup,
  type StatefulSetSummary,
} from "../../src/policy/index.js";
import { createStaticSource, type StatefulSetSource } from "../../src/statefulsets/source.js";
import { aStatefulSet, loadFixture } from "../helpers/objects.js";

/** `web` in `demo`: 2 replicas from 0, pods `app: web`. */
export const web = summarize(aStatefulSet({ name: "web", replicas: 2 }));
/** `db` in `demo`: 2 replicas from 5 (`db-5`, `db-6`). */
export const db = summarize(aStatefulSet({ name: "db", replicas: 2, ordinals: { start: 5 } }));

export function summarize(object: unknown): StatefulSetSummary {
  const summary = summarizeStatefulSet(object, "demo");
  if (!summary) throw new Error("not a StatefulSet");
  return summary;
}

/** The source the fixtures were recorded against: `web` and `db` in `demo`. */
export function fixtureSource(services: readonly PerPodServiceSummary[] = []): StatefulSetSource {
  return createStaticSource([web, db], services, [governingService("web"), governingService("db")]);
}

/** The headless Service `name` in `demo` selecting `app: <name>`, as the fixtures' StatefulSets want. */
export function governingService(name: string): ServiceSummary {
  return { namespace: "demo", name, headless: true, selector: { app: name } };
}

/** The default config for a Kubernetes version (the fixtures were recorded on 1.26). */
export function configFor(
  kubeVersion: string,
  overrides: Partial<Omit<StsguardConfig, "policy">> & {
    policy?: Partial<StsguardConfig["policy"]>;
  } = {},
): StsguardConfig {
  const base = withKubeVersion(defaultConfig, parseKubeVersion(kubeVersion));
  return {
    ...base,
    ...overrides,
    policy: { ...base.policy, ...overrides.policy },
  };
}

/** A per-pod Service summary as `perPodServices` returns it. */
export function perPodService(name: string, podName: string): PerPodServiceSummary {
  const dash = podName.lastIndexOf("-");
  return {
    namespace: "demo",
    name,
    target: { statefulSet: podName.slice(0, dash), ordinal: Number(podName.slice(dash + 1)) },
  };
}

export function requestFromFixture(name: string): AdmissionRequest {
  return parseReview(loadFixture(name));
}

export interface ReviewOptions {
  readonly uid?: string;
  readonly operation?: string;
  readonly kind?: { group: string; version: string; kind: string };
  readonly resource?: { group: string; version: string; resource: string };
  readonly subResource?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
}

const SERVICE_KIND = { group: "", version: "v1", kind: "Service" };
const SERVICE_RESOURCE = { group: "", version: "v1", resource: "services" };

/** An AdmissionReview v1 body; by default a CREATE of `object` as a Service in `demo`. */
export function aReview(options: ReviewOptions = {}): Record<string, unknown> {
  const request: Record<string, unknown> = {
    uid: options.uid ?? "0b6e7c2a-5f0e-4c55-9d2b-6d7f3e0a1c42",
    kind: options.kind ?? SERVICE_KIND,
    resource: options.resource ?? SERVICE_RESOURCE,
    requestKind: options.kind ?? SERVICE_KIND,
    requestResource: options.resource ?? SERVICE_RESOURCE,
    name: options.name ?? readName(options.object),
    namespace: options.namespace ?? "demo",
    operation: options.operation ?? "CREATE",
    userInfo: { username: "admin", groups: ["system:authenticated"] },
    object: options.object ?? null,
    oldObject: options.oldObject ?? null,
    dryRun: options.dryRun ?? false,
    options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
  };
  if (options.subResource !== undefined) {
    request["subResource"] = options.subResource;
    request["requestSubResource"] = options.subResource;
  }
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request };
}

export function aRequest(options: ReviewOptions = {}): AdmissionRequest {
  return parseReview(aReview(options));
}

/** Applies a JSON Patch the way the API server does: to a copy of the object as sent. */
export function applyAdmissionPatch(object: unknown, patch: readonly PatchOperation[]): unknown {
  return jsonPatch.applyPatch(structuredClone(object), [...patch], true, false).newDocument;
}

/** A source whose cache and live reads answer differently, counting the live reads. */
export function splitSource(
  cached: StatefulSetLookup,
  live: StatefulSetLookup,
): StatefulSetSource & { liveReads: number } {
  const source = {
    liveReads: 0,
    lookup: () => Promise.resolve(cached),
    // Like a cluster source, the cache answers from memory; an unreadable source only by a read.
    lookupCached: () => (cached.status === "unavailable" ? null : cached),
    lookupLive: () => {
      source.liveReads += 1;
      return Promise.resolve(live);
    },
    perPodServices: () => Promise.resolve([]),
    lookupService: () => Promise.resolve({ status: "not-found" } as const),
    autoscalers: () => Promise.resolve([]),
    autoscalersLive: () => Promise.resolve([]),
    isReady: () => true,
    close: () => Promise.resolve(),
  };
  return source;
}

function readName(object: unknown): string {
  if (typeof object !== "object" || object === null) return "";
  const metadata = (object as { metadata?: { name?: unknown } }).metadata;
  return typeof metadata?.name === "string" ? metadata.name : "";
}
