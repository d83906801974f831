/**
 * The configuration file, read at start and again whenever it changes. In a cluster it is a
 * mounted ConfigMap: the kubelet writes a new `..2026_12_01_…` directory and swaps the `..data`
 * symlink to it, so `config.yaml -> ..data/config.yaml` changes in one rename. A directory watch
 * sees that at once; a periodic read and hash catches whatever fs.watch misses (some volume types
 * and platforms report nothing). Requests in flight keep the configuration they started with:
 * each one reads `current()` once.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { ConfigError, describeError } from "../errors.js";
import { watchChanges } from "../files/watch-changes.js";
import { parseConfig, type StsguardConfig } from "./config.js";

export const DEFAULT_CONFIG_POLL_INTERVAL_MS = 2_000;
export const DEFAULT_CONFIG_DEBOUNCE_MS = 100;

/** The configuration that answers now. */
export interface LiveConfig {
  current(): StsguardConfig;
  /** sha256 (hex) of the file it was read from; `defaults` when there is no file. */
  hash(): string;
}

export interface ConfigReloadEvent {
  readonly outcome: "applied" | "rejected";
  readonly hash: string;
  readonly config?: StsguardConfig;
  readonly error?: ConfigError;
}

export interface WatchConfigOptions {
  readonly path: string;
  readonly logger: Logger;
  /** Turns a parsed file into the configuration that answers (e.g. sets the Kubernetes version). */
  readonly prepare?: (config: StsguardConfig) => StsguardConfig;
  readonly pollIntervalMs?: number;
  readonly debounceMs?: number;
  /** Called after each reload attempt: count it, publish the new hash. */
  readonly onReload?: (event: ConfigReloadEvent) => void;
}

export interface ConfigWatcher extends LiveConfig {
  close(): void;
}

/** A configuration that never changes (no file, or tests). */
export function fixedConfig(config: StsguardConfig, hash = "defaults"): LiveConfig {
  return { current: () => config, hash: () => hash };
}

/**
 * Reads the file (throwing a ConfigError that names the file and key, so startup fails), then
 * applies every later version that parses and validates. One that does not is logged at error
 * with the key at fault and counted as rejected; the running configuration keeps answering.
 */
export async function watchConfigFile(options: WatchConfigOptions): Promise<ConfigWatcher> {
  const { path, logger } = options;
  const prepare = options.prepare ?? ((config: StsguardConfig) => config);
  const log = logger.child({ component: "config" });
  const first = await readOrThrow(path);
  let active = prepare(parseConfig(first.text, path));
  let activeHash = first.hash;
  // Contents that failed once: read again a moment later before calling them rejected, since a
  // file edited in place (not a ConfigMap) can be caught half-written.
  let suspect: string | null = null;
  let rejectedHash: string | null = null;
  let closed = false;

  const reject = (hash: string, error: ConfigError): void => {
    if (suspect !== hash) {
      suspect = hash;
      watch.checkSoon();
      return;
    }
    suspect = null;
    rejectedHash = hash;
    log.error(
      { err: error, file: path, hash, activeHash },
      `configuration rejected, still running the previous one: ${error.message}`,
    );
    options.onReload?.({ outcome: "rejected", hash, error });
  };

  const check = async (): Promise<void> => {
    let contents: { text: string; hash: string };
    try {
      contents = await read(path);
    } catch (error: unknown) {
      const message = `cannot read config file ${path}: ${describeError(error)}`;
      reject(`unreadable: ${message}`, new ConfigError(message, { cause: error }));
      return;
    }
    if (closed || contents.hash === activeHash || contents.hash === rejectedHash) {
      suspect = null;
      return;
    }
    let next: StsguardConfig;
    try {
      next = prepare(parseConfig(contents.text, path));
    } catch (error: unknown) {
      if (!(error instanceof ConfigError)) throw error;
      reject(contents.hash, error);
      return;
    }
    const previousHash = activeHash;
    active = next;
    activeHash = contents.hash;
    suspect = null;
    rejectedHash = null;
    log.info(
      { file: path, hash: activeHash, previousHash, mode: next.guardrails.mode },
      "configuration reloaded",
    );
    options.onReload?.({ outcome: "applied", hash: activeHash, config: next });
  };

  const watch = watchChanges({
    dirs: [dirname(path)],
    check,
    debounceMs: options.debounceMs ?? DEFAULT_CONFIG_DEBOUNCE_MS,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_CONFIG_POLL_INTERVAL_MS,
    log: log.child({ file: path }),
    what: "the config directory",
    checkFailedMessage: "configuration reload check failed",
  });

  return {
    current: () => active,
    hash: () => activeHash,
    close(): void {
      closed = true;
      watch.close();
    },
  };
}

/** sha256 of the file's bytes, as `sha256sum` prints it. */
export function hashConfigText(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

async function read(path: string): Promise<{ text: string; hash: string }> {
  const text = await readFile(path, "utf8");
  return { text, hash: hashConfigText(text) };
}

async function readOrThrow(path: string): Promise<{ text: string; hash: string }> {
  try {
    return await read(path);
  } catch (error: unknown) {
    throw new ConfigError(`cannot read config file ${path}: ${describeError(error)}`, {
      cause: error,
    });
  }
}
