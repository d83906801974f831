/** Capped exponential backoff with jitter, and a sleep that a stop signal cuts short. */

export interface BackoffOptions {
  /** First delay after a failure. */
  readonly initialMs: number;
  /** Ceiling of the delay, however many failures in a row. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 500, maxMs: 30_000 });

export interface Backoff {
  /** The delay before the next attempt; each call without a reset doubles it, up to the cap. */
  nextDelayMs(): number;
  /** Back to the first delay, after something succeeded. */
  reset(): void;
}

/** Jitter keeps many replicas from hitting a recovering API server at the same instant. */
export function createBackoff(options: BackoffOptions, random: () => number): Backoff {
  let failures = 0;
  return {
    nextDelayMs() {
      const base = Math.min(options.maxMs, options.initialMs * 2 ** failures);
      failures = Math.min(failures + 1, 30);
      return Math.round(base * (0.5 + random() / 2));
    },
    reset() {
      failures = 0;
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts; never leaves a timer behind. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
