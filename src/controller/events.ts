/**
 * Events on the StatefulSet, as `kubectl describe statefulset` shows them. Repeats of the same
 * reason and message within a window update the first Event's count instead of adding Events, as
 * client-go's correlator does, so a conflict reported at every resync does not flood etcd.
 * Recording is best effort: a failure is logged, never fails a reconcile.
 */
import type { Logger } from "pino";
import { isJsonMap, readMap, readString } from "../policy/raw-object.js";
import type { ControllerApi } from "./api.js";
import { FIELD_MANAGER } from "./desired-services.js";

export interface EventSubject {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(subject: EventSubject, type: EventType, reason: string, message: string): void;
  /** Waits for the Events being sent. */
  flush(): Promise<void>;
}

interface Recorded {
  readonly name: string;
  count: number;
  lastSeenMs: number;
}

const REPEAT_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 4096;
// The API server refuses longer messages.
const MAX_MESSAGE_LENGTH = 1024;

export function createEventRecorder(options: {
  readonly api: ControllerApi;
  readonly logger: Logger;
  /** reportingInstance: which replica wrote it. */
  readonly instance: string;
  readonly signal: AbortSignal;
  readonly now?: () => number;
}): EventRecorder {
  const { api, logger, signal } = options;
  const now = options.now ?? Date.now;
  const recorded = new Map<string, Recorded>();
  const pending = new Set<Promise<void>>();
  const inFlight = new Map<string, Promise<void>>();
  let sequence = 0;

  const create = async (
    subject: EventSubject,
    type: EventType,
    reason: string,
    message: string,
    key: string,
  ): Promise<void> => {
    const timestamp = new Date(now()).toISOString().replace(/\.\d+Z$/, "Z");
    sequence += 1;
    const name = `${subject.name}.${(now() * 1000 + (sequence % 1000)).toString(16)}`;
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace: subject.namespace },
      involvedObject: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        namespace: subject.namespace,
        name: subject.name,
        uid: subject.uid,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      source: { component: FIELD_MANAGER },
      reportingComponent: FIELD_MANAGER,
      reportingInstance: options.instance,
    };
    const path = `/api/v1/namespaces/${encodeURIComponent(subject.namespace)}/events`;
    const answer = await api.request(
      "POST",
      path,
      { contentType: "application/json", value: event },
      signal,
    );
    if (answer.status !== 201 && answer.status !== 200) {
      throw new Error(
        `creating Event ${reason} failed: HTTP ${answer.status} ${describe(answer.body)}`,
      );
    }
    remember(key, {
      name: readString(readMap(answer.body, "metadata"), "name") ?? name,
      count: 1,
      lastSeenMs: now(),
    });
  };

  const remember = (key: string, entry: Recorded): void => {
    recorded.delete(key);
    recorded.set(key, entry);
    if (recorded.size > MAX_REMEMBERED) {
      const oldest = recorded.keys().next().value;
      if (oldest !== undefined) recorded.delete(oldest);
    }
  };

  const send = async (
    subject: EventSubject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> => {
    const key = eventKey(subject, type, reason, message);
    const previous = recorded.get(key);
    if (previous && now() - previous.lastSeenMs < REPEAT_WINDOW_MS) {
      previous.count += 1;
      previous.lastSeenMs = now();
      const path = `/api/v1/namespaces/${encodeURIComponent(subject.namespace)}/events/${encodeURIComponent(previous.name)}`;
      const patch = {
        count: previous.count,
        lastTimestamp: new Date(now()).toISOString().replace(/\.\d+Z$/, "Z"),
      };
      const answer = await api.request(
        "PATCH",
        path,
        { contentType: "application/strategic-merge-patch+json", value: patch },
        signal,
      );
      if (answer.status === 200) return;
      // Expired (events have a TTL) or deleted: start a new one.
      recorded.delete(key);
    }
    await create(subject, type, reason, message, key);
  };

  return {
    record(subject, type, reason, message) {
      const text =
        message.length > MAX_MESSAGE_LENGTH
          ? `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…`
          : message;
      // The same Event twice in a row waits for the first, so the second counts it up.
      const key = eventKey(subject, type, reason, text);
      const before = inFlight.get(key) ?? Promise.resolve();
      const work = before
        .then(() => send(subject, type, reason, text))
        .catch((error: unknown) => {
          if (!signal.aborted)
            logger.warn(
              { err: error, reason, statefulSet: `${subject.namespace}/${subject.name}` },
              "could not record Event",
            );
        });
      inFlight.set(key, work);
      pending.add(work);
      void work.finally(() => {
        pending.delete(work);
        if (inFlight.get(key) === work) inFlight.delete(key);
      });
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}

function eventKey(subject: EventSubject, type: EventType, reason: string, message: string): string {
  return `${subject.uid}\n${type}\n${reason}\n${message}`;
}

function describe(body: unknown): string {
  return isJsonMap(body) && typeof body["message"] === "string" ? body["message"] : "";
}
