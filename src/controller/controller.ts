/**
 * The per-pod Service controller inside `stsguard serve --controller`. Every replica campaigns for
 * the Lease; the leader alone lists and watches StatefulSets, Services and the
 * HorizontalPodAutoscalers of StatefulSets, and writes. Each change (and a periodic resync) queues
 * the StatefulSet it concerns (an HPA's: the one it scales, and the one it scaled before); a
 * reconcile plans from the caches (plan.ts) and carries the plan out with server-side apply and
 * uid-guarded deletes, recording an Event on the StatefulSet for every create, delete and
 * problem. API failures are retried per StatefulSet with capped exponential backoff; conflicts
 * and bad annotations wait for a change.
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { withTypeMeta, type ObjectKey } from "../kube/api-objects.js";
import {
  createBackoff,
  DEFAULT_BACKOFF,
  sleep,
  type Backoff,
  type BackoffOptions,
} from "../kube/backoff.js";
import { createKubeTransport, type KubeConfig } from "../kube/client.js";
import { AUTOSCALER_CACHE, CLUSTER_SOURCE_DEFAULTS } from "../kube/cluster-source.js";
import { createReflector, type Reflector } from "../kube/reflector.js";
import { DEFAULT_CONTROLLER_LIMITS, type ControllerLimits } from "../config/controller.js";
import type { AutoscalerSummary, PolicyConfig } from "../policy/index.js";
import { readMap, readString, type JsonMap } from "../policy/raw-object.js";
import { createControllerApi, type ControllerApi } from "./api.js";
import type { ApplyConfiguration } from "./desired-services.js";
import { createEventRecorder, type EventRecorder, type EventSubject } from "./events.js";
import {
  createLeaderElector,
  DEFAULT_LEADER_ELECTION,
  type LeaderElectionTiming,
} from "./leader-election.js";
import { checkApproval } from "./approval.js";
import { convertToApply } from "./managed-fields.js";
import { createControllerMetrics, type ControllerMetrics } from "./metrics.js";
import { observeService, trimStatefulSet } from "./observed.js";
import { planReconcile, type ObservedService, type PlannedAction } from "./plan.js";

export const DEFAULT_LEASE_NAME = "stsguard-controller";

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly policy: PolicyConfig;
  /** The configuration's `controller:` limits as they are now (read at every reconcile). */
  readonly limits?: () => ControllerLimits;
  /**
   * The key approvals of expose annotations are checked with (approval.ts); null: every
   * exposure counts as approved (tests of other behaviour only; `serve` and `controller` refuse
   * to run the controller without one).
   */
  readonly approvalKey?: Buffer | null;
  /** A namespace's labels, when known (for controller.namespaceSelector). */
  readonly namespaceLabels?: (namespace: string) => Readonly<Record<string, string>> | null;
  /** Where the controller's metrics go (the server's registry); null: none. */
  readonly registry: Registry | null;
  /** Namespace of the Lease (the release namespace in a cluster). */
  readonly leaseNamespace: string;
  readonly leaseName?: string;
  /** Who holds the Lease: the pod name plus a random suffix by default. */
  readonly identity?: string;
  readonly leaderElection?: LeaderElectionTiming;
  /** Every StatefulSet is reconciled again this often, which repairs any drift missed. */
  readonly resyncPeriodMs?: number;
  /** Retries of a StatefulSet whose reconcile hit an API error. */
  readonly backoff?: BackoffOptions;
  readonly requestTimeoutMs?: number;
  readonly random?: () => number;
}

export interface Controller {
  /** Starts campaigning for the Lease; returns at once. */
  start(): void;
  isLeader(): boolean;
  /** Stops writing, releases the Lease. */
  close(): Promise<void>;
}

export function defaultIdentity(env: Readonly<Record<string, string | undefined>>): string {
  return `${env["POD_NAME"] || hostname()}_${randomUUID()}`;
}

export function createController(options: ControllerOptions): Controller {
  const logger = options.logger.child({ component: "controller" });
  const transport = createKubeTransport(options.kubeConfig);
  const api = createControllerApi({ transport, timeoutMs: options.requestTimeoutMs ?? 10_000 });
  const identity = options.identity ?? defaultIdentity({});
  const random = options.random ?? Math.random;
  let term: LeaderTerm | null = null;
  const metrics: ControllerMetrics | null = options.registry
    ? createControllerMetrics(options.registry, {
        managedServices: () => term?.managedServices() ?? 0,
        isLeader: () => elector.isLeader(),
      })
    : null;
  const elector = createLeaderElector({
    api,
    namespace: options.leaseNamespace,
    name: options.leaseName ?? DEFAULT_LEASE_NAME,
    identity,
    timing: options.leaderElection ?? DEFAULT_LEADER_ELECTION,
    logger,
    random,
    now: () => performance.now(),
    lead: async (signal) => {
      const current = createLeaderTerm({
        ...options,
        logger,
        api,
        identity,
        random,
        metrics,
        transport,
      });
      term = current;
      try {
        await current.run(signal);
      } finally {
        term = null;
      }
    },
  });
  let started: Promise<void> | undefined;
  return {
    start() {
      started ??= elector.run();
    },
    isLeader: () => elector.isLeader(),
    async close() {
      await elector.stop();
      await started;
    },
  };
}

interface TermOptions extends ControllerOptions {
  readonly api: ControllerApi;
  readonly identity: string;
  readonly random: () => number;
  readonly metrics: ControllerMetrics | null;
  readonly transport: ReturnType<typeof createKubeTransport>;
}

interface LeaderTerm {
  run(signal: AbortSignal): Promise<void>;
  managedServices(): number;
}

/** What runs while this replica leads: caches, the queue and the reconciles. */
function createLeaderTerm(options: TermOptions): LeaderTerm {
  const { api, logger, policy, metrics } = options;
  const approvalKey = options.approvalKey ?? null;
  const termController = new AbortController();
  const signal = termController.signal;
  // A function, not the property: the linter narrows `signal.aborted` across awaits.
  const stopped = (): boolean => signal.aborted;
  const queue = new Set<string>();
  let wake: (() => void) | null = null;
  const retries = new Map<string, { backoff: Backoff; timer?: NodeJS.Timeout }>();
  const knownStatefulSets = new Set<string>();
  // Which StatefulSets each Service concerns (owner, pod-name target), kept for its deletion.
  const serviceConcerns = new Map<string, readonly string[]>();
  const managed = new Set<string>();
  // What our own writes did, until the watch reports the same Service: the cache may lag.
  const written = new Map<string, ObservedService | "deleted">();
  // uid → "<resourceVersion> <configuration>" of our last successful apply.
  const applied = new Map<string, string>();
  const serviceUids = new Map<string, string>();
  const events: EventRecorder = createEventRecorder({
    api,
    logger,
    instance: options.identity,
    signal,
  });

  const enqueue = (key: string): void => {
    queue.add(key);
    wake?.();
  };

  const shared = {
    transport: options.transport,
    logger,
    clock: { now: () => performance.now() },
    random: options.random,
    staleAfterMs: CLUSTER_SOURCE_DEFAULTS.staleAfterMs,
    watchTimeoutSeconds: CLUSTER_SOURCE_DEFAULTS.watchTimeoutSeconds,
    listTimeoutMs: CLUSTER_SOURCE_DEFAULTS.listTimeoutMs,
    pageSize: CLUSTER_SOURCE_DEFAULTS.pageSize,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
  };
  const statefulSets: Reflector<JsonMap> = createReflector<JsonMap>({
    ...shared,
    resource: "statefulsets",
    path: "/apis/apps/v1/statefulsets",
    typeMeta: { apiVersion: "apps/v1", kind: "StatefulSet" },
    summarize: (obj) => trimStatefulSet(obj, policy.labelPrefix),
    onChange: ({ namespace, name }) => {
      const key = `${namespace}/${name}`;
      if (statefulSets.get(namespace, name)) knownStatefulSets.add(key);
      else knownStatefulSets.delete(key);
      enqueue(key);
    },
  });
  const services: Reflector<ObservedService> = createReflector<ObservedService>({
    ...shared,
    resource: "services",
    path: "/api/v1/services",
    typeMeta: { apiVersion: "v1", kind: "Service" },
    summarize: observeService,
    onChange: (key) => {
      onServiceChange(key);
    },
  });

  // The HPAs of StatefulSets as last seen, so that a retarget or delete also queues the one an
  // HPA scaled before.
  const autoscalersSeen = new Map<string, AutoscalerSummary>();
  const autoscalers: Reflector<AutoscalerSummary> = createReflector<AutoscalerSummary>({
    ...shared,
    ...AUTOSCALER_CACHE,
    onChange: ({ namespace, name }) => {
      const id = `${namespace}/${name}`;
      const before = autoscalersSeen.get(id);
      const after = autoscalers.get(namespace, name);
      if (after) autoscalersSeen.set(id, after);
      else autoscalersSeen.delete(id);
      // The HPA controller writes its status every sync period; that changes no range.
      if (before && after && isSameScaling(before, after)) return;
      for (const statefulSet of new Set([before?.statefulSet, after?.statefulSet])) {
        if (statefulSet !== undefined) enqueue(`${namespace}/${statefulSet}`);
      }
    },
  });

  const onServiceChange = ({ namespace, name }: ObjectKey): void => {
    const id = `${namespace}/${name}`;
    const service = services.get(namespace, name);
    if (isCaughtUp(written.get(id), service)) written.delete(id);
    const knownUid = serviceUids.get(id);
    if (knownUid !== undefined && knownUid !== service?.uid) applied.delete(knownUid);
    if (service) serviceUids.set(id, service.uid);
    else serviceUids.delete(id);
    const before = serviceConcerns.get(id) ?? [];
    const after = service ? concernsOf(service) : [];
    if (service) serviceConcerns.set(id, after);
    else serviceConcerns.delete(id);
    if (service?.managed && service.controllerOwner?.kind === "StatefulSet") managed.add(id);
    else managed.delete(id);
    for (const statefulSet of new Set([...before, ...after]))
      enqueue(`${namespace}/${statefulSet}`);
  };

  /** The Services of a namespace as the cache plus our own recent writes see them. */
  const observedServices = (namespace: string): ObservedService[] => {
    const byName = new Map(services.listNamespace(namespace).map((s) => [s.name, s]));
    for (const [id, write] of written) {
      const [ns, name] = splitKey(id);
      if (ns !== namespace) continue;
      if (write === "deleted") byName.delete(name);
      else byName.set(name, write);
    }
    return [...byName.values()];
  };

  const reconcile = async (key: string): Promise<boolean> => {
    const [namespace, name] = splitKey(key);
    const statefulSet = statefulSets.get(namespace, name);
    const observed = observedServices(namespace);
    const actions = planReconcile(name, statefulSet, observed, policy, {
      limits: options.limits?.() ?? DEFAULT_CONTROLLER_LIMITS,
      namespaceLabels: options.namespaceLabels?.(namespace) ?? null,
      autoscalers: autoscalers.listNamespace(namespace),
      approval: approvalKey
        ? (object) => checkApproval(approvalKey, object, policy.labelPrefix)
        : null,
    });
    const subject = subjectOf(namespace, name, statefulSet, observed);
    let ok = true;
    for (const action of actions) {
      if (signal.aborted) return ok;
      ok = (await carryOut(action, subject)) && ok;
    }
    return ok;
  };

  /** Returns false when the action hit an API error worth retrying. */
  const carryOut = async (
    action: PlannedAction,
    subject: EventSubject | null,
  ): Promise<boolean> => {
    const record = (type: "Normal" | "Warning", reason: string, message: string): void => {
      if (subject) events.record(subject, type, reason, message);
    };
    switch (action.kind) {
      case "invalid":
        metrics?.recordError("invalid-annotation");
        logger.warn(
          {
            statefulSet: subject && `${subject.namespace}/${subject.name}`,
            problems: action.problems,
          },
          "bad expose annotations; nothing written",
        );
        record(
          "Warning",
          "InvalidExposeAnnotation",
          `${action.problems.join("; ")}; no Service was written or deleted`,
        );
        return true;
      case "not-allowed":
        metrics?.recordError("not-allowed");
        logger.warn(
          {
            statefulSet: subject && `${subject.namespace}/${subject.name}`,
            problems: action.problems,
          },
          "exposure beyond the configured limits; nothing written",
        );
        record(
          "Warning",
          "ExposeNotAllowed",
          `${action.problems.join("; ")}; no Service was written or deleted`,
        );
        return true;
      case "not-approved":
        metrics?.recordError("not-approved");
        logger.warn(
          {
            statefulSet: subject && `${subject.namespace}/${subject.name}`,
            problems: action.problems,
          },
          "expose annotations without a valid approval; nothing written",
        );
        record(
          "Warning",
          "ExposeNotApproved",
          `${action.problems.join("; ")}; no Service was written or deleted`,
        );
        return true;
      case "not-owned":
        metrics?.recordError("not-owned");
        record(
          "Warning",
          "ServiceNotOwned",
          `Service ${action.service.name} exists and was not created by stsguard-controller for this StatefulSet: left alone (delete it to let the controller create its own)`,
        );
        return true;
      case "apply":
        return apply(action.service, action.existing, record);
      case "delete":
        return remove(action, record);
    }
  };

  type Record = (type: "Normal" | "Warning", reason: string, message: string) => void;

  const remember = (object: unknown, namespace: string): ObservedService | null => {
    const seen = observeService(
      withTypeMeta(object, { apiVersion: "v1", kind: "Service" }),
      namespace,
    );
    if (seen) written.set(`${namespace}/${seen.name}`, seen);
    return seen;
  };

  const apply = async (
    service: ApplyConfiguration,
    existing: ObservedService | null,
    record: Record,
  ): Promise<boolean> => {
    if (!existing) return create(service, record);
    const configuration = JSON.stringify(service);
    if (applied.get(existing.uid) === `${existing.resourceVersion} ${configuration}`) return true;
    const name = existing.name;
    const namespace = existing.namespace;
    if (existing.updateEntry) {
      // A create of ours that was never turned into an Apply entry (we stopped in between).
      const read = await api.readService(namespace, name, signal);
      if (read.kind === "failed") return failed(name, read.message, record);
      if (read.kind === "gone" || uidOf(read.object) !== existing.uid) return true;
      const converted = await adopt(namespace, name, read.object, null, record);
      if (converted !== "done") return converted === "gone";
    }
    const result = await api.applyService(service, existing.uid, signal);
    switch (result.kind) {
      case "applied": {
        const seen = remember(result.object, namespace);
        if (seen) applied.set(seen.uid, `${seen.resourceVersion} ${configuration}`);
        if (seen && seen.resourceVersion !== existing.resourceVersion) {
          metrics?.recordWrite("updated");
          logger.info({ service: `${namespace}/${name}` }, "updated per-pod Service");
          record(
            "Normal",
            "ServiceUpdated",
            `Updated per-pod Service ${name} (${describeService(service)})`,
          );
        }
        return true;
      }
      case "gone":
        // Deleted or replaced since the cache saw it: nothing was written; the watch brings the
        // news and the reconcile it queues decides again.
        written.delete(`${namespace}/${name}`);
        logger.info(
          { service: `${namespace}/${name}`, message: result.message },
          "Service gone or replaced before the apply; nothing written",
        );
        return true;
      case "conflict":
        metrics?.recordError("conflict");
        logger.warn(
          { service: `${namespace}/${name}`, message: result.message },
          "server-side apply conflict; not forced",
        );
        record(
          "Warning",
          "ServiceConflict",
          `Service ${name}: ${result.message}. Not forced: the field was set by someone else; ` +
            "set it back or remove it from their manager to let the controller manage it again",
        );
        return true;
      case "refused":
        return refused(name, result.status, result.message, record);
      case "failed":
        return failed(name, result.message, record);
    }
  };

  /**
   * A POST: it fails when the name is taken, so a create never lands on a Service someone else
   * made after the cache was read. The new Service's entry is then made an Apply entry.
   */
  const create = async (service: ApplyConfiguration, record: Record): Promise<boolean> => {
    const name = readString(readMap(service, "metadata"), "name") ?? "";
    const namespace = readString(readMap(service, "metadata"), "namespace") ?? "";
    const result = await api.createService(service, signal);
    switch (result.kind) {
      case "created": {
        remember(result.object, namespace);
        metrics?.recordWrite("created");
        logger.info({ service: `${namespace}/${name}` }, "created per-pod Service");
        record(
          "Normal",
          "ServiceCreated",
          `Created per-pod Service ${name} (${describeService(service)})`,
        );
        const converted = await adopt(namespace, name, result.object, service, record);
        return converted !== "retry";
      }
      case "exists":
        // Someone else's, made since the cache was read: nothing was written. Its watch event
        // queues a reconcile, which reports it (ServiceNotOwned).
        logger.info(
          { service: `${namespace}/${name}`, message: result.message },
          "a Service of this name appeared before the create; nothing written",
        );
        return true;
      case "refused":
        return refused(name, result.status, result.message, record);
      case "failed":
        return failed(name, result.message, record);
    }
  };

  /**
   * Turns the controller's Update entry on `object` into an Apply entry (managed-fields.ts). The
   * JSON patch tests the resourceVersion: when the Service changed meanwhile, it is read again
   * (and left alone once it is another object or gone).
   */
  const adopt = async (
    namespace: string,
    name: string,
    object: unknown,
    configuration: ApplyConfiguration | null,
    record: Record,
  ): Promise<"done" | "gone" | "retry"> => {
    const uid = uidOf(object);
    let current = object;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const metadata = readMap(current, "metadata");
      const managedFields = convertToApply(metadata?.["managedFields"], configuration);
      const resourceVersion = readString(metadata, "resourceVersion");
      if (!managedFields || !resourceVersion) return "done";
      const result = await api.replaceManagedFields(
        namespace,
        name,
        resourceVersion,
        managedFields,
        signal,
      );
      switch (result.kind) {
        case "converted": {
          const seen = remember(result.object, namespace);
          if (seen && configuration)
            applied.set(seen.uid, `${seen.resourceVersion} ${JSON.stringify(configuration)}`);
          return "done";
        }
        case "refused":
          refused(name, result.status, result.message, record);
          return "gone";
        case "failed":
          failed(name, result.message, record);
          return "retry";
        case "stale": {
          const read = await api.readService(namespace, name, signal);
          if (read.kind === "failed") {
            failed(name, read.message, record);
            return "retry";
          }
          if (read.kind === "gone" || uidOf(read.object) !== uid) return "gone";
          current = read.object;
        }
      }
    }
    return "retry";
  };

  const refused = (name: string, status: number, message: string, record: Record): boolean => {
    metrics?.recordError("refused");
    logger.warn({ service: name, status, message }, "Service write refused");
    record("Warning", "ServiceApplyFailed", `Service ${name} could not be applied: ${message}`);
    return true;
  };

  const failed = (name: string, message: string, record: Record): boolean => {
    metrics?.recordError("api");
    logger.warn({ service: name, message }, "Service write failed; will retry");
    record(
      "Warning",
      "ServiceApplyFailed",
      `Service ${name} could not be applied: ${message}; retrying`,
    );
    return false;
  };

  const remove = async (
    { service, reason, why }: Extract<PlannedAction, { kind: "delete" }>,
    record: Record,
  ): Promise<boolean> => {
    const id = `${service.namespace}/${service.name}`;
    const result = await api.deleteService(service.namespace, service.name, service.uid, signal);
    switch (result.kind) {
      case "deleted":
        written.set(id, "deleted");
        applied.delete(service.uid);
        metrics?.recordWrite("deleted");
        logger.info({ service: id, reason }, "deleted per-pod Service");
        record("Normal", "ServiceDeleted", `Deleted per-pod Service ${service.name}: ${why}`);
        return true;
      case "gone":
        logger.debug({ service: id, message: result.message }, "Service already gone or replaced");
        return true;
      case "refused":
        metrics?.recordError("refused");
        record(
          "Warning",
          "ServiceDeleteFailed",
          `Service ${service.name} could not be deleted: ${result.message}`,
        );
        return true;
      case "failed":
        metrics?.recordError("api");
        record(
          "Warning",
          "ServiceDeleteFailed",
          `Service ${service.name} could not be deleted: ${result.message}; retrying`,
        );
        return false;
    }
  };

  const retryLater = (key: string): void => {
    let retry = retries.get(key);
    if (!retry) {
      retry = { backoff: createBackoff(options.backoff ?? DEFAULT_BACKOFF, options.random) };
      retries.set(key, retry);
    }
    clearTimeout(retry.timer);
    const delayMs = retry.backoff.nextDelayMs();
    logger.debug({ statefulSet: key, delayMs }, "reconcile failed; retrying after backoff");
    retry.timer = setTimeout(() => {
      enqueue(key);
    }, delayMs);
  };

  /** Until something is queued or the term ends; leaves no listener behind. */
  const waitForWork = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        wake = null;
        signal.removeEventListener("abort", done);
        resolve();
      };
      wake = done;
      signal.addEventListener("abort", done, { once: true });
    });

  const work = async (): Promise<void> => {
    while (!signal.aborted) {
      const next = queue.values().next();
      if (next.done) {
        await waitForWork();
        continue;
      }
      const key = next.value;
      queue.delete(key);
      const retry = retries.get(key);
      if (retry?.timer) clearTimeout(retry.timer);
      let ok = false;
      try {
        ok = await reconcile(key);
      } catch (error: unknown) {
        logger.error({ err: error, statefulSet: key }, "reconcile failed unexpectedly");
      }
      if (stopped()) break;
      metrics?.recordReconcile(ok ? "success" : "error");
      if (ok) retries.delete(key);
      else retryLater(key);
    }
  };

  const resync = async (): Promise<void> => {
    const periodMs = options.resyncPeriodMs ?? 300_000;
    while (!signal.aborted) {
      await sleep(periodMs, signal);
      if (stopped()) return;
      for (const key of knownStatefulSets) enqueue(key);
      for (const [id, concerns] of serviceConcerns) {
        const [namespace] = splitKey(id);
        for (const statefulSet of concerns) enqueue(`${namespace}/${statefulSet}`);
      }
    }
  };

  return {
    managedServices: () => managed.size,
    async run(leadership) {
      const stop = (): void => {
        termController.abort();
        statefulSets.stop();
        services.stop();
        autoscalers.stop();
      };
      leadership.addEventListener("abort", stop, { once: true });
      if (leadership.aborted) stop();
      const caches = Promise.all([statefulSets.run(), services.run(), autoscalers.run()]);
      // No reconcile before the HPAs are known: it would delete the Services they keep.
      await Promise.race([
        Promise.all([statefulSets.synced, services.synced, autoscalers.synced]),
        caches,
      ]);
      if (!signal.aborted)
        logger.info(
          {
            statefulSets: statefulSets.count(),
            services: services.count(),
            autoscalers: autoscalers.count(),
          },
          "controller caches synced",
        );
      await Promise.all([work(), resync(), caches]);
      for (const retry of retries.values()) clearTimeout(retry.timer);
      await events.flush();
    },
  };
}

/** Same target and counts: what the Services kept for a StatefulSet depend on. */
function isSameScaling(a: AutoscalerSummary, b: AutoscalerSummary): boolean {
  return (
    a.statefulSet === b.statefulSet &&
    a.minReplicas === b.minReplicas &&
    a.maxReplicas === b.maxReplicas
  );
}

function uidOf(object: unknown): string | undefined {
  return readString(readMap(object, "metadata"), "uid");
}

/**
 * The cache has caught up with our own write when it holds that write or a later one (etcd's
 * resourceVersions grow), another object, or none. Until then the write stands in for it: our
 * create and the conversion after it are two watch events, and the first must not look stale.
 */
function isCaughtUp(
  write: ObservedService | "deleted" | undefined,
  cached: ObservedService | undefined,
): boolean {
  if (write === undefined || write === "deleted" || !cached) return true;
  if (cached.uid !== write.uid) return true;
  if (!/^\d+$/.test(cached.resourceVersion) || !/^\d+$/.test(write.resourceVersion)) return true;
  return BigInt(cached.resourceVersion) >= BigInt(write.resourceVersion);
}

function concernsOf(service: ObservedService): string[] {
  const concerns = new Set<string>();
  if (service.controllerOwner?.kind === "StatefulSet") concerns.add(service.controllerOwner.name);
  if (service.target) concerns.add(service.target.statefulSet);
  return [...concerns];
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/** Events go to the StatefulSet, or (once it is gone) to the one its Services named as owner. */
function subjectOf(
  namespace: string,
  name: string,
  statefulSet: JsonMap | undefined,
  services: readonly ObservedService[],
): EventSubject | null {
  const uid = readString(readMap(statefulSet, "metadata"), "uid");
  if (uid) return { namespace, name, uid };
  const owner = services.find(
    (s) => s.controllerOwner?.kind === "StatefulSet" && s.controllerOwner.name === name,
  )?.controllerOwner;
  return owner ? { namespace, name, uid: owner.uid } : null;
}

function describeService(service: ApplyConfiguration): string {
  const spec = readMap(service, "spec");
  const ports = spec?.["ports"];
  const list = Array.isArray(ports)
    ? (ports as unknown[])
        .map((p) => {
          const port = readMap({ p }, "p")?.["port"];
          return typeof port === "number" ? String(port) : "?";
        })
        .join(", ")
    : "";
  return `${readString(spec, "type") ?? "?"}, port${list.includes(",") ? "s" : ""} ${list}`;
}
