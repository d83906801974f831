/**
 * Calls `check` when files in some directories may have changed: on a directory event
 * (debounced, since one update is often several renames, as in a kubelet `..data` swap) and on a
 * poll timer, because directory watches miss events on some filesystems and mounts. Checks never
 * overlap: events that arrive during a check cause exactly one more.
 */
import { watch, type FSWatcher } from "node:fs";
import type { Logger } from "pino";

export interface WatchChangesOptions {
  readonly dirs: readonly string[];
  /** Reads the files and applies what changed; never called while a call is running. */
  readonly check: () => Promise<void>;
  readonly debounceMs: number;
  readonly pollIntervalMs: number;
  readonly log: Logger;
  /** Names the directories in log lines, e.g. "TLS directory". */
  readonly what: string;
  /** Logged at error when a check throws. */
  readonly checkFailedMessage: string;
}

export interface ChangeWatch {
  /** Checks once the debounce time has passed with no further call. */
  checkSoon(): void;
  /** Checks now, or right after the check that is running. */
  checkNow(): void;
  close(): void;
}

export function watchChanges(options: WatchChangesOptions): ChangeWatch {
  const { check, log } = options;
  let closed = false;
  let running: Promise<void> | null = null;
  let rerun = false;
  let debounceTimer: NodeJS.Timeout | undefined;

  const scheduleCheck = (): void => {
    if (closed) return;
    if (running !== null) {
      rerun = true;
      return;
    }
    running = check()
      .catch((error: unknown) => {
        log.error({ err: error }, options.checkFailedMessage);
      })
      .finally(() => {
        running = null;
        if (rerun) {
          rerun = false;
          scheduleCheck();
        }
      });
  };

  const debounce = (): void => {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(scheduleCheck, options.debounceMs);
    debounceTimer.unref();
  };

  const watchers = [...new Set(options.dirs)].flatMap((dir) =>
    watchDirectory(dir, debounce, log, options.what),
  );
  const pollTimer = setInterval(scheduleCheck, options.pollIntervalMs);
  pollTimer.unref();

  return {
    checkSoon: debounce,
    checkNow: scheduleCheck,
    close(): void {
      closed = true;
      clearInterval(pollTimer);
      clearTimeout(debounceTimer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function watchDirectory(dir: string, onEvent: () => void, log: Logger, what: string): FSWatcher[] {
  try {
    const watcher = watch(dir, { persistent: false }, onEvent);
    watcher.on("error", (error: unknown) => {
      log.warn({ err: error, dir }, `stopped watching ${what}; relying on polling`);
      watcher.close();
    });
    return [watcher];
  } catch (error: unknown) {
    log.warn({ err: error, dir }, `cannot watch ${what}; relying on polling`);
    return [];
  }
}
