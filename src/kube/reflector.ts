/**
 * List+watch of one resource across all namespaces into an in-memory map of summaries: the same
 * protocol as client-go's reflector, with the freshness rules a webhook needs.
 *
 * - List in pages (limit/continue), then watch from the list's resourceVersion with bookmarks.
 * - Every event and bookmark advances the resourceVersion; a dropped watch resumes from it.
 * - 410 Gone (HTTP status or ERROR event) means the history we need is compacted: relist and
 *   replace the map, so deletes and scale-downs missed meanwhile are not kept.
 * - Watch connections can die without a FIN, and an idle resource may see no event for hours.
 *   Bookmarks do not fill that silence: they are best effort, and a real 1.26 API server sent
 *   none for minutes on a resource nobody changed (test/e2e/cache-freshness.e2e.test.ts). So a
 *   watch silent for half of `staleAfterMs` is renewed from the same resourceVersion. The API
 *   server accepting the renewed watch (HTTP 200) is the sign of life: from then on it sends
 *   whatever changed since that resourceVersion. The cache is stale only when no event,
 *   bookmark or accepted watch came within `staleAfterMs`, i.e. when a renewal went unanswered
 *   for the other half. A server-side timeoutSeconds (jittered) renews connections as well.
 */
import type { Logger } from "pino";
import { LookupError } from "../errors.js";
import {
  describeApiFailure,
  isGone,
  parseWatchEvent,
  readListPage,
  readObjectKey,
  readResourceVersion,
  readStatus,
  withTypeMeta,
  type ObjectKey,
  type TypeMeta,
  type WatchEvent,
} from "./api-objects.js";
import { readMap, readString } from "../policy/raw-object.js";
import { createBackoff, sleep, type BackoffOptions } from "./backoff.js";
import type { KubeTransport } from "./client.js";

export interface Clock {
  /** Milliseconds, only ever compared with each other. */
  now(): number;
}

export type WatchRestartReason = "server-closed" | "silent" | "gone" | "failed";

export interface ReflectorMetrics {
  recordWatchRestart(resource: string, reason: WatchRestartReason): void;
  recordRelist(resource: string): void;
}

export interface ReflectorOptions<T> {
  /** Plural resource name, for logs and metrics: "statefulsets", "services". */
  readonly resource: string;
  /** The all-namespaces collection, e.g. `/apis/apps/v1/statefulsets`. */
  readonly path: string;
  /** apiVersion and kind of one item, which list answers leave out. */
  readonly typeMeta: TypeMeta;
  /** Cluster-scoped objects (Namespaces) are kept under the namespace "". */
  readonly clusterScoped?: boolean;
  /** What to keep of one object; null drops it (e.g. a Service that is not per-pod). */
  readonly summarize: (obj: unknown, namespace: string) => T | null;
  readonly transport: KubeTransport;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: () => number;
  readonly staleAfterMs: number;
  readonly watchTimeoutSeconds: number;
  readonly listTimeoutMs: number;
  readonly pageSize: number;
  readonly backoff: BackoffOptions;
  readonly metrics?: ReflectorMetrics | undefined;
  /**
   * Called after an object was added, changed or deleted in the map (by a watch event), and for
   * every object before or after a (re)list, so a controller can react. Must not throw.
   */
  readonly onChange?: ((key: ObjectKey) => void) | undefined;
}

export interface Reflector<T> {
  /** Lists and watches until `stop`; never rejects. */
  run(): Promise<void>;
  stop(): void;
  get(namespace: string, name: string): T | undefined;
  listNamespace(namespace: string): readonly T[];
  /** The summaries of one namespace, without copying them out (the admission path reads it). */
  valuesOfNamespace(namespace: string): Iterable<T>;
  /** Every summary, in all namespaces. */
  listAll(): T[];
  count(): number;
  /** Where the watch stands: the last resourceVersion from a list, event or bookmark. */
  currentResourceVersion(): string;
  /** The first list has completed (the map may since have gone stale). */
  isSynced(): boolean;
  /**
   * Synced, the watch not known to be broken, and within staleAfterMs an event, a bookmark, or
   * a watch the API server accepted.
   */
  isFresh(): boolean;
  /** Resolves at the first sync. */
  readonly synced: Promise<void>;
}

type Store<T> = Map<string, Map<string, T>>;

type WatchOutcome =
  | { readonly kind: "stopped" }
  | { readonly kind: "ended"; readonly events: number }
  | { readonly kind: "silent" }
  | { readonly kind: "gone" }
  | { readonly kind: "failed"; readonly error: unknown };

export function createReflector<T>(options: ReflectorOptions<T>): Reflector<T> {
  const { resource, logger, clock } = options;
  const log = logger.child({ resource });
  const stopController = new AbortController();
  const stopSignal = stopController.signal;
  const backoff = createBackoff(options.backoff, options.random);

  let store: Store<T> = new Map();
  let resourceVersion = "";
  let synced = false;
  let interrupted = false;
  let lastAliveAt = Number.NEGATIVE_INFINITY;
  let resolveSynced = (): void => undefined;
  const syncedPromise = new Promise<void>((resolve) => {
    resolveSynced = resolve;
  });

  const keyOf = (obj: unknown): ObjectKey | null => {
    if (!options.clusterScoped) return readObjectKey(obj);
    const name = readString(readMap(obj, "metadata"), "name");
    return name ? { namespace: "", name } : null;
  };

  const markAlive = (): void => {
    lastAliveAt = clock.now();
    interrupted = false;
    backoff.reset();
  };

  const applyObject = (target: Store<T>, obj: unknown): void => {
    const key = keyOf(obj);
    if (!key) return;
    const summary = options.summarize(withTypeMeta(obj, options.typeMeta), key.namespace);
    if (summary) putEntry(target, key, summary);
    else removeEntry(target, key);
  };

  const applyEvent = (event: WatchEvent): void => {
    if (event.type === "ADDED" || event.type === "MODIFIED") {
      applyObject(store, event.object);
    } else if (event.type === "DELETED") {
      const key = keyOf(event.object);
      if (key) removeEntry(store, key);
    }
    resourceVersion = readResourceVersion(event.object) ?? resourceVersion;
    const changed = event.type === "BOOKMARK" ? null : readObjectKey(event.object);
    if (changed) options.onChange?.(changed);
  };

  const listAll = async (): Promise<{ store: Store<T>; resourceVersion: string }> => {
    const fresh: Store<T> = new Map();
    let continueToken: string | undefined;
    let listVersion = "";
    do {
      const query = { limit: String(options.pageSize), continue: continueToken };
      const { status, body } = await options.transport.getJson(options.path, query, {
        signal: stopSignal,
        timeoutMs: options.listTimeoutMs,
      });
      if (status !== 200) {
        throw new LookupError(`listing ${resource}: ${describeApiFailure(status, body)}`);
      }
      const page = readListPage(body);
      if (!page) throw new LookupError(`listing ${resource}: the answer is not a list`);
      for (const item of page.items) applyObject(fresh, item);
      continueToken = page.continueToken;
      listVersion = page.resourceVersion;
    } while (continueToken);
    return { store: fresh, resourceVersion: listVersion };
  };

  const listOnce = async (): Promise<boolean> => {
    const startedAt = clock.now();
    try {
      const listed = await listAll();
      const previous = store;
      store = listed.store;
      resourceVersion = listed.resourceVersion;
      if (synced) options.metrics?.recordRelist(resource);
      const firstSync = !synced;
      synced = true;
      markAlive();
      log.info(
        { count: countEntries(store), resourceVersion, durationMs: clock.now() - startedAt },
        firstSync ? "cache synced" : "cache relisted",
      );
      resolveSynced();
      if (options.onChange) notifyAll(options.onChange, previous, store);
      return true;
    } catch (error: unknown) {
      if (stopSignal.aborted) return false;
      interrupted = true;
      log.warn({ err: error }, `listing ${resource} failed; will retry`);
      return false;
    }
  };

  const watchOnce = async (): Promise<WatchOutcome> => {
    const controller = new AbortController();
    const abortOnStop = (): void => {
      controller.abort(stopSignal.reason);
    };
    stopSignal.addEventListener("abort", abortOnStop, { once: true });
    let settled: WatchOutcome | undefined;
    let events = 0;
    const settle = (outcome: WatchOutcome): void => {
      settled ??= outcome;
      controller.abort();
    };
    // Renewed after half the window, so an idle resource's cache never goes stale while the
    // API server answers; an unanswered renewal leaves the other half before it does.
    const watchdog = setTimeout(() => {
      settle({ kind: "silent" });
    }, options.staleAfterMs / 2);
    const onLine = (line: string): void => {
      if (settled) return;
      const event = parseWatchEvent(line);
      if (!event) {
        const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
        settle({ kind: "failed", error: new LookupError(`undecodable watch event: ${shown}`) });
      } else if (event.type === "ERROR") {
        settle(readWatchError(resource, event.object));
      } else {
        applyEvent(event);
        events += 1;
        markAlive();
        watchdog.refresh();
      }
    };
    const query = {
      watch: "true",
      resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(jitterSeconds(options.watchTimeoutSeconds, options.random)),
    };
    try {
      const end = await options.transport.streamLines(options.path, query, onLine, {
        signal: controller.signal,
        // Accepted from our resourceVersion: the server will send what changed since. The
        // backoff stays: a server that accepts watches and ends them at once is still backed off.
        onOpen: () => {
          lastAliveAt = clock.now();
          interrupted = false;
        },
      });
      if (settled) return settled;
      if (end.kind === "ended") return { kind: "ended", events };
      if (isGone(end.status, end.body)) return { kind: "gone" };
      return {
        kind: "failed",
        error: new LookupError(`watching ${resource}: ${describeApiFailure(end.status, end.body)}`),
      };
    } catch (error: unknown) {
      if (stopSignal.aborted) return { kind: "stopped" };
      return settled ?? { kind: "failed", error };
    } finally {
      clearTimeout(watchdog);
      stopSignal.removeEventListener("abort", abortOnStop);
    }
  };

  /** Returns whether the next round must relist. */
  const handleOutcome = async (outcome: WatchOutcome): Promise<boolean> => {
    switch (outcome.kind) {
      case "stopped":
        return false;
      case "ended":
        options.metrics?.recordWatchRestart(resource, "server-closed");
        log.debug({ resourceVersion }, "watch closed by the server; resuming");
        // A server that ends watches at once with nothing in them must not be hammered.
        if (outcome.events === 0) await sleep(backoff.nextDelayMs(), stopSignal);
        return false;
      case "silent":
        // Not stale yet: the renewed watch, once accepted, counts as a sign of life.
        options.metrics?.recordWatchRestart(resource, "silent");
        log.debug(
          { resourceVersion, silentMs: options.staleAfterMs / 2 },
          "no watch event or bookmark for a while; renewing the watch",
        );
        return false;
      case "gone":
        interrupted = true;
        options.metrics?.recordWatchRestart(resource, "gone");
        log.info({ resourceVersion }, "resourceVersion expired (410 Gone); relisting");
        return true;
      case "failed": {
        interrupted = true;
        options.metrics?.recordWatchRestart(resource, "failed");
        const delayMs = backoff.nextDelayMs();
        log.warn({ err: outcome.error, resourceVersion, delayMs }, "watch failed; resuming");
        await sleep(delayMs, stopSignal);
        return false;
      }
    }
  };

  const runRound = async (needsList: boolean): Promise<boolean> => {
    if (needsList) {
      if (!(await listOnce())) {
        await sleep(backoff.nextDelayMs(), stopSignal);
        return true;
      }
    }
    return handleOutcome(await watchOnce());
  };

  const run = async (): Promise<void> => {
    let needsList = true;
    while (!stopSignal.aborted) {
      try {
        needsList = await runRound(needsList);
      } catch (error: unknown) {
        // A bug must not end the loop for good: the cache would go stale with nobody noticing.
        interrupted = true;
        needsList = true;
        log.error({ err: error }, "unexpected error in list+watch; relisting");
        await sleep(backoff.nextDelayMs(), stopSignal);
      }
    }
  };

  return {
    run,
    stop: () => {
      interrupted = true;
      stopController.abort(new LookupError(`${resource} cache closed`));
    },
    get: (namespace, name) => store.get(namespace)?.get(name),
    listNamespace: (namespace) => [...(store.get(namespace)?.values() ?? [])],
    valuesOfNamespace: (namespace) => store.get(namespace)?.values() ?? [],
    listAll: () => [...store.values()].flatMap((names) => [...names.values()]),
    count: () => countEntries(store),
    currentResourceVersion: () => resourceVersion,
    isSynced: () => synced,
    isFresh: () => synced && !interrupted && clock.now() - lastAliveAt <= options.staleAfterMs,
    synced: syncedPromise,
  };
}

function readWatchError(resource: string, obj: unknown): WatchOutcome {
  if (isGone(0, obj)) return { kind: "gone" };
  const status = readStatus(obj);
  return {
    kind: "failed",
    error: new LookupError(
      `watching ${resource}: ERROR event: ${describeApiFailure(status?.code ?? 0, obj)}`,
    ),
  };
}

/** Spread reconnects over [1, 2) × the base, as client-go does, so replicas do not align. */
function jitterSeconds(baseSeconds: number, random: () => number): number {
  return Math.max(1, Math.floor(baseSeconds * (1 + random())));
}

function putEntry<T>(store: Store<T>, key: ObjectKey, summary: T): void {
  let names = store.get(key.namespace);
  if (!names) {
    names = new Map();
    store.set(key.namespace, names);
  }
  names.set(key.name, summary);
}

function removeEntry<T>(store: Store<T>, key: ObjectKey): void {
  const names = store.get(key.namespace);
  names?.delete(key.name);
  if (names?.size === 0) store.delete(key.namespace);
}

/** Every key of either map once: what a relist may have added, changed or removed. */
function notifyAll<T>(onChange: (key: ObjectKey) => void, before: Store<T>, after: Store<T>): void {
  const seen = new Set<string>();
  for (const map of [before, after]) {
    for (const [namespace, names] of map) {
      for (const name of names.keys()) {
        const id = `${namespace}/${name}`;
        if (seen.has(id)) continue;
        seen.add(id);
        onChange({ namespace, name });
      }
    }
  }
}

function countEntries<T>(store: Store<T>): number {
  let count = 0;
  for (const names of store.values()) count += names.size;
  return count;
}
