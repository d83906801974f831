/**
 * A budget for admission request bodies in flight, in bytes. A body is counted from before its
 * first byte is read until its answer is written, because the bytes, the decoded string and the
 * parsed review all live that long. A request that does not fit waits (unread: TCP holds the
 * rest of it back) for a bounded time, in arrival order, and is then turned away with 429, so a
 * burst of large reviews costs time instead of the pod's memory limit.
 */
import { readContainerMemoryLimit } from "./container-memory.js";

const MiB = 1024 * 1024;

/**
 * Memory the process needs besides request bodies: code, caches (summaries of StatefulSets,
 * Services, Namespaces and the HPAs of StatefulSets; a few hundred bytes each), buffers, V8's own.
 */
export const BASELINE_MEMORY_BYTES = 96 * MiB;
/**
 * Memory one body byte costs at its peak: the Buffer, its string, the parsed object (V8 objects
 * take several times their JSON text), the answer, and garbage the collector has not yet freed.
 */
export const BYTES_PER_BODY_BYTE = 8;
/** Without a container limit (a developer's machine): enough for ~20 reviews of the largest size. */
export const UNLIMITED_BODY_BUDGET_BYTES = 64 * MiB;
export const DEFAULT_BODY_BUDGET_WAIT_MS = 2_000;

export interface BodyBudgetMetrics {
  /** A request waited for room (counted once, when it starts waiting). */
  recordWait(): void;
  /** A request waited maxWaitMs and was turned away. */
  recordRejection(): void;
  /** Bytes now reserved, after every change. */
  setInUse(bytes: number): void;
}

export interface BodyBudgetOptions {
  readonly maxBytes: number;
  readonly maxWaitMs: number;
  readonly metrics?: BodyBudgetMetrics;
}

/** Gives back what a reservation took; calling it again does nothing. */
export type Release = () => void;

export interface BodyBudget {
  readonly maxBytes: number;
  readonly maxWaitMs: number;
  /** A reservation at once, or null when `bytes` do not fit now (or others already wait). */
  tryReserve(bytes: number): Release | null;
  /**
   * Waits for room in arrival order: a release, or null after maxWaitMs or when `signal`
   * aborts (the client went away).
   */
  reserve(bytes: number, signal: AbortSignal): Promise<Release | null>;
  inUse(): number;
}

/**
 * The default budget for a container memory limit: what is left after the baseline, divided by
 * what each body byte costs at its peak, and never less than one body of the largest size.
 */
export function defaultBodyBudgetBytes(memoryLimit: number | null, maxBodyBytes: number): number {
  if (memoryLimit === null) return Math.max(UNLIMITED_BODY_BUDGET_BYTES, maxBodyBytes);
  const spare = (memoryLimit - BASELINE_MEMORY_BYTES) / BYTES_PER_BODY_BYTE;
  return Math.max(maxBodyBytes, Math.floor(spare));
}

interface Waiter {
  readonly bytes: number;
  readonly resolve: (release: Release | null) => void;
}

export function createBodyBudget(options: BodyBudgetOptions): BodyBudget {
  const { maxBytes, maxWaitMs, metrics } = options;
  let used = 0;
  const waiters: Waiter[] = [];

  const take = (bytes: number): Release => {
    // One request larger than the whole budget still goes through, alone.
    const amount = Math.min(bytes, maxBytes);
    used += amount;
    metrics?.setInUse(used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      used -= amount;
      metrics?.setInUse(used);
      admitWaiters();
    };
  };

  const fits = (bytes: number): boolean => used + Math.min(bytes, maxBytes) <= maxBytes;

  const admitWaiters = (): void => {
    while (waiters.length > 0) {
      const next = waiters[0];
      if (!next || !fits(next.bytes)) return;
      waiters.shift();
      next.resolve(take(next.bytes));
    }
  };

  return {
    maxBytes,
    maxWaitMs,
    tryReserve(bytes) {
      return waiters.length === 0 && fits(bytes) ? take(bytes) : null;
    },
    reserve(bytes, signal) {
      metrics?.recordWait();
      return new Promise((resolve) => {
        const leave = (rejected: boolean): void => {
          const index = waiters.indexOf(waiter);
          if (index === -1) return;
          waiters.splice(index, 1);
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          if (rejected) metrics?.recordRejection();
          resolve(null);
          // The head of the queue may have been what held the others back.
          admitWaiters();
        };
        const onAbort = (): void => {
          leave(false);
        };
        const waiter: Waiter = {
          bytes,
          resolve: (release) => {
            clearTimeout(timer);
            signal.removeEventListener("abort", onAbort);
            resolve(release);
          },
        };
        const timer = setTimeout(() => {
          leave(true);
        }, maxWaitMs);
        waiters.push(waiter);
        signal.addEventListener("abort", onAbort, { once: true });
        if (signal.aborted) onAbort();
        admitWaiters();
      });
    },
    inUse: () => used,
  };
}

/** The budget a server gets when given none: from the container's limit, default wait. */
export function createDefaultBodyBudget(
  maxBodyBytes: number,
  metrics?: BodyBudgetMetrics,
): BodyBudget {
  const maxBytes = defaultBodyBudgetBytes(readContainerMemoryLimit(), maxBodyBytes);
  return createBodyBudget({
    maxBytes,
    maxWaitMs: DEFAULT_BODY_BUDGET_WAIT_MS,
    ...(metrics ? { metrics } : {}),
  });
}
