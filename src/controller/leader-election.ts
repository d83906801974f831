/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * - a candidate takes the Lease when it does not exist, is released (no holder), or its holder
 *   has not renewed it for leaseDurationSeconds as measured on the candidate's own clock (from
 *   when it last saw the record change: no trust in other machines' clocks);
 * - every write is a PUT carrying the resourceVersion that was read, so of two candidates that
 *   race, the API server lets exactly one win (409 Conflict for the other);
 * - the leader renews every retryPeriod and gives up leading when it could not renew for
 *   renewDeadline (shorter than the lease duration, so it stops writing before anyone else may
 *   start);
 * - on shutdown the leader first stops its work, then releases the Lease (no holder), so a
 *   successor takes over at its next retry instead of after the lease duration.
 */
import type { Logger } from "pino";
import { sleep } from "../kube/backoff.js";
import { describeApiFailure } from "../kube/api-objects.js";
import { isJsonMap, readMap, readString } from "../policy/raw-object.js";
import type { ControllerApi } from "./api.js";

export interface LeaderElectionTiming {
  /** How long a Lease holds without renewal; what non-leaders wait before taking over. */
  readonly leaseDurationMs: number;
  /** The leader stops leading when it could not renew for this long. */
  readonly renewDeadlineMs: number;
  /** Between attempts to acquire or renew. */
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION: LeaderElectionTiming = Object.freeze({
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

export interface LeaderElectorOptions {
  readonly api: ControllerApi;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly timing: LeaderElectionTiming;
  readonly logger: Logger;
  readonly random: () => number;
  /** Monotonic milliseconds, for lease expiry. */
  readonly now: () => number;
  /** Runs while leading; `signal` aborts when leadership ends. Resolves when the work stopped. */
  readonly lead: (signal: AbortSignal) => Promise<void>;
}

export interface LeaderElector {
  /** Campaigns, leads, and campaigns again after losing the Lease, until stop(). */
  run(): Promise<void>;
  isLeader(): boolean;
  /** Stops leading (waiting for the work to stop), releases the Lease, ends run(). */
  stop(): Promise<void>;
}

interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string | undefined;
  readonly leaseTransitions: number;
  readonly resourceVersion: string;
  /** The record as text, to notice any change (a renewal changes renewTime). */
  readonly raw: string;
}

export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const { api, timing, logger, identity } = options;
  const log = logger.child({
    component: "leader-election",
    lease: `${options.namespace}/${options.name}`,
  });
  const stopController = new AbortController();
  const stopSignal = stopController.signal;
  // A function, not the property: the linter narrows `stopSignal.aborted` across awaits.
  const stopped = (): boolean => stopSignal.aborted;
  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases`;
  let observed: { raw: string; at: number } | null = null;
  let lastWritten: LeaseRecord | null = null;
  let leading = false;
  let running: Promise<void> | undefined;

  const jittered = (ms: number): number => Math.round(ms * (1 + 0.2 * options.random()));

  const leaseBody = (
    record: LeaseRecord | null,
    holder: string,
    nowIso: string,
  ): Record<string, unknown> => {
    const sameHolder = record?.holderIdentity === identity && holder === identity;
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: options.name,
        namespace: options.namespace,
        ...(record ? { resourceVersion: record.resourceVersion } : {}),
      },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: holder === "" ? 1 : Math.ceil(timing.leaseDurationMs / 1000),
        acquireTime: sameHolder ? (record.acquireTime ?? nowIso) : nowIso,
        renewTime: nowIso,
        leaseTransitions:
          (record?.leaseTransitions ?? 0) +
          (record && record.holderIdentity !== holder && holder !== "" ? 1 : 0),
      },
    };
  };

  /** One attempt; true when this candidate holds the Lease afterwards. */
  const tryAcquireOrRenew = async (signal: AbortSignal): Promise<boolean> => {
    const nowIso = toMicroTime(new Date());
    const read = await api.request(
      "GET",
      `${leasePath}/${encodeURIComponent(options.name)}`,
      null,
      signal,
    );
    if (read.status === 404) {
      const created = await api.request(
        "POST",
        leasePath,
        { contentType: "application/json", value: leaseBody(null, identity, nowIso) },
        signal,
      );
      if (created.status !== 201) {
        log.debug({ status: created.status }, "could not create the Lease");
        return false;
      }
      lastWritten = readLease(created.body);
      return lastWritten !== null;
    }
    if (read.status !== 200) {
      log.warn({ failure: describeApiFailure(read.status, read.body) }, "could not read the Lease");
      return false;
    }
    const record = readLease(read.body);
    if (!record) return false;
    if (observed?.raw !== record.raw) observed = { raw: record.raw, at: options.now() };
    const heldByOther = record.holderIdentity !== "" && record.holderIdentity !== identity;
    if (heldByOther && observed.at + record.leaseDurationSeconds * 1000 > options.now())
      return false;
    const updated = await api.request(
      "PUT",
      `${leasePath}/${encodeURIComponent(options.name)}`,
      { contentType: "application/json", value: leaseBody(record, identity, nowIso) },
      signal,
    );
    if (updated.status !== 200) {
      log.debug({ status: updated.status }, "could not update the Lease (someone else wrote it)");
      return false;
    }
    lastWritten = readLease(updated.body);
    if (heldByOther)
      log.info({ previousHolder: record.holderIdentity }, "took over the expired Lease");
    return lastWritten !== null;
  };

  const attempt = async (deadlineMs: number): Promise<boolean> => {
    const controller = new AbortController();
    const timer = setTimeout(
      () => {
        controller.abort();
      },
      Math.max(1, deadlineMs),
    );
    const onStop = (): void => {
      controller.abort();
    };
    stopSignal.addEventListener("abort", onStop, { once: true });
    try {
      return await tryAcquireOrRenew(controller.signal);
    } catch (error: unknown) {
      if (!stopSignal.aborted) log.warn({ err: error }, "Lease request failed");
      return false;
    } finally {
      clearTimeout(timer);
      stopSignal.removeEventListener("abort", onStop);
    }
  };

  /** Leads until leadership is lost or stop(); true when it was still leading at stop(). */
  const lead = async (): Promise<boolean> => {
    const leadership = new AbortController();
    leading = true;
    log.info({ identity }, "became the leader: the controller writes from this replica");
    const work = options.lead(leadership.signal).catch((error: unknown) => {
      log.error({ err: error }, "the controller stopped with an error");
    });
    let lastRenewed = options.now();
    while (!stopSignal.aborted) {
      await sleep(jittered(timing.retryPeriodMs), stopSignal);
      if (stopped()) break;
      const left = timing.renewDeadlineMs - (options.now() - lastRenewed);
      if (left > 0 && (await attempt(left))) {
        lastRenewed = options.now();
        continue;
      }
      if (options.now() - lastRenewed >= timing.renewDeadlineMs) {
        log.warn(
          { renewDeadlineMs: timing.renewDeadlineMs },
          "could not renew the Lease in time: no longer the leader",
        );
        break;
      }
    }
    const stoppedWhileLeading = stopped();
    leading = false;
    leadership.abort();
    await work;
    return stoppedWhileLeading;
  };

  /** Returns whether this replica held the Lease when it was stopped. */
  const campaign = async (): Promise<boolean> => {
    while (!stopped()) {
      if (await attempt(timing.renewDeadlineMs)) {
        if (await lead()) return true;
        continue;
      }
      await sleep(jittered(timing.retryPeriodMs), stopSignal);
    }
    return false;
  };

  const release = async (): Promise<void> => {
    const record = lastWritten;
    if (!record || record.holderIdentity !== identity) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort();
    }, timing.retryPeriodMs);
    try {
      const answer = await api.request(
        "PUT",
        `${leasePath}/${encodeURIComponent(options.name)}`,
        { contentType: "application/json", value: leaseBody(record, "", toMicroTime(new Date())) },
        controller.signal,
      );
      if (answer.status === 200) log.info("released the Lease");
      else
        log.warn(
          { failure: describeApiFailure(answer.status, answer.body) },
          "could not release the Lease",
        );
    } catch (error: unknown) {
      log.warn({ err: error }, "could not release the Lease");
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    run() {
      running ??= campaign().then((holding) => (holding ? release() : undefined));
      return running;
    },
    isLeader: () => leading,
    async stop() {
      stopController.abort();
      await running;
    },
  };
}

function readLease(body: unknown): LeaseRecord | null {
  const spec = readMap(body, "spec");
  const resourceVersion = readString(readMap(body, "metadata"), "resourceVersion");
  if (!isJsonMap(body) || !resourceVersion) return null;
  const duration = spec?.["leaseDurationSeconds"];
  const transitions = spec?.["leaseTransitions"];
  return {
    holderIdentity: readString(spec, "holderIdentity") ?? "",
    leaseDurationSeconds: typeof duration === "number" && duration > 0 ? duration : 15,
    acquireTime: readString(spec, "acquireTime"),
    leaseTransitions: typeof transitions === "number" ? transitions : 0,
    resourceVersion,
    raw: JSON.stringify(spec ?? {}),
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds, as the Lease's time fields require. */
export function toMicroTime(date: Date): string {
  return date.toISOString().replace(/Z$/, "000Z");
}
