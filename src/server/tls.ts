import { X509Certificate, createHash, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "pino";
import { ConfigError, describeError } from "../errors.js";
import { watchChanges } from "../files/watch-changes.js";

/**
 * Options every stsguard HTTPS server should be created with, and re-applied on every reload:
 * `server.setSecureContext()` resets any option it is not given (minVersion included).
 * TLS 1.2 is the floor kube-apiserver and current clients support; 1.0/1.1 are broken.
 */
export const TLS_SERVER_OPTIONS = {
  minVersion: "TLSv1.2",
} as const satisfies SecureContextOptions;

export const DEFAULT_TLS_POLL_INTERVAL_MS = 5_000;
export const DEFAULT_TLS_DEBOUNCE_MS = 200;
/**
 * How long a certificate/key pair may stay unusable before it is reported. Tools that write the
 * two files one after the other (cp, a script, some secret syncers) leave a mismatched pair for
 * a moment, often a second or more: that is an update in progress, not a broken certificate.
 */
export const DEFAULT_TLS_SETTLE_MS = 5_000;

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** `--client-ca`: the CA whose certificates clients must present; read and reloaded with the pair. */
  readonly clientCaFile?: string;
}

/** A certificate and key that were read together and are known to belong together. */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The client CA's PEM, when there is one: installed with the pair as the secure context's `ca`. */
  readonly clientCa?: Buffer;
  readonly fingerprint256: string;
  readonly validTo: string;
  readonly subject: string;
}

/** The part of tls.Server / https.Server that reloading needs. */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface TlsReloadEvent {
  readonly outcome: "applied" | "rejected";
  readonly fingerprint256?: string;
  readonly error?: ConfigError;
}

export interface WatchTlsFilesOptions extends TlsFiles {
  readonly server: SecureContextTarget;
  readonly logger: Logger;
  /** How often both files are re-read and hashed, whatever fs.watch reports. Default 5 s. */
  readonly pollIntervalMs?: number;
  /** Quiet time after a directory event before the files are read. Default 200 ms. */
  readonly debounceMs?: number;
  /** How long the same unusable contents must stay before they are reported. Default 5 s. */
  readonly settleMs?: number;
  /** Passed with cert and key on every setSecureContext call. Default TLS_SERVER_OPTIONS. */
  readonly secureContextOptions?: Omit<SecureContextOptions, "cert" | "key">;
  /** Called after each reload attempt, e.g. to count reloads in a metric. */
  readonly onReload?: (event: TlsReloadEvent) => void;
  /** Called with each pair installed, the first one included (e.g. for its expiry). */
  readonly onServing?: (pair: TlsPair) => void;
}

export interface TlsWatcher {
  close(): void;
}

/**
 * Reads and checks a certificate/key pair. Throws ConfigError naming the file that is missing,
 * unreadable or unusable, or saying that the key does not match the certificate.
 */
export function readTlsPair(files: TlsFiles): TlsPair {
  return checkTlsPair(
    files,
    readFileOrThrow(files.certFile, "certificate"),
    readFileOrThrow(files.keyFile, "key"),
    files.clientCaFile === undefined ? undefined : readFileOrThrow(files.clientCaFile, "client CA"),
  );
}

/**
 * Installs the pair in `server` now (throwing ConfigError at startup if it is unusable), then
 * installs it again whenever the files change. Directory events catch the atomic `..data`
 * symlink swap of a Kubernetes Secret volume quickly; polling a content hash catches whatever
 * fs.watch misses. A pair that is still half-written or mismatched once the settle time (5 s)
 * has passed is logged at warn and skipped; the server keeps its previous certificate and tries
 * again when the files next change. Only new handshakes see a new certificate: connections
 * already open, and requests in flight on them, keep the one they started with.
 */
export function watchTlsFiles(options: WatchTlsFilesOptions): TlsWatcher {
  const { server, logger, certFile, keyFile } = options;
  const extra = options.secureContextOptions ?? TLS_SERVER_OPTIONS;
  const log = logger.child({ component: "tls" });

  const initial = readTlsPair(options);
  server.setSecureContext(toSecureContext(extra, initial));
  log.info(describePair(options, initial), "serving TLS certificate");
  options.onServing?.(initial);

  // The contents last installed or reported as unusable: nothing to do until they change.
  let lastSeen = hashContents(initial.cert, initial.key, initial.clientCa);
  // Unusable contents seen, and since when. The two files are read separately, so a read can
  // straddle an update (two renames, a ..data swap, a Secret's old directory being deleted), and
  // some writers leave seconds between the certificate and the key; only contents that still
  // read the same once the settle time has passed are reported.
  let suspect: { readonly signature: string; readonly since: number } | null = null;
  const settleMs = options.settleMs ?? DEFAULT_TLS_SETTLE_MS;
  let settleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const reloadIfChanged = async (): Promise<void> => {
    const contents = await readBoth(options);
    if (closed || contents.signature === lastSeen) {
      suspect = null;
      return;
    }
    const outcome = contents.error ?? installPair(contents);
    if (outcome instanceof ConfigError) {
      const now = Date.now();
      if (suspect?.signature !== contents.signature) {
        suspect = { signature: contents.signature, since: now };
        log.debug({ err: outcome }, "TLS files unusable, perhaps mid-update; reading them again");
      }
      const left = suspect.since + settleMs - now;
      if (left > 0) {
        // Read again once the settle time is over, or earlier when the files change.
        clearTimeout(settleTimer);
        settleTimer = setTimeout(
          () => {
            watch.checkNow();
          },
          Math.max(left, options.debounceMs ?? 0),
        );
        settleTimer.unref();
        return;
      }
      reportRejected(outcome);
    } else {
      log.info(describePair(options, outcome), "reloaded TLS certificate");
      options.onServing?.(outcome);
      options.onReload?.({ outcome: "applied", fingerprint256: outcome.fingerprint256 });
    }
    lastSeen = contents.signature;
    suspect = null;
  };

  const installPair = (contents: FileContents): TlsPair | ConfigError => {
    try {
      const pair = checkTlsPair(options, contents.cert, contents.key, contents.clientCa);
      server.setSecureContext(toSecureContext(extra, pair));
      return pair;
    } catch (e: unknown) {
      return toConfigError(e, options);
    }
  };

  const reportRejected = (error: ConfigError): void => {
    log.warn(
      { err: error, certFile, keyFile },
      "ignoring unusable TLS certificate/key; still serving the previous certificate",
    );
    options.onReload?.({ outcome: "rejected", error });
  };

  const watch = watchChanges({
    dirs: [
      dirname(certFile),
      dirname(keyFile),
      ...(options.clientCaFile === undefined ? [] : [dirname(options.clientCaFile)]),
    ],
    check: reloadIfChanged,
    debounceMs: options.debounceMs ?? DEFAULT_TLS_DEBOUNCE_MS,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_TLS_POLL_INTERVAL_MS,
    log,
    what: "TLS directory",
    checkFailedMessage: "TLS reload check failed",
  });

  return {
    close(): void {
      closed = true;
      watch.close();
      clearTimeout(settleTimer);
    },
  };
}

// --- internal ---

interface FileContents {
  readonly signature: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
  readonly error?: ConfigError;
}

/** setSecureContext resets whatever it is not given: the client CA goes in every time. */
function toSecureContext(
  extra: Omit<SecureContextOptions, "cert" | "key">,
  pair: TlsPair,
): SecureContextOptions {
  return {
    ...extra,
    cert: pair.cert,
    key: pair.key,
    ...(pair.clientCa === undefined ? {} : { ca: pair.clientCa }),
  };
}

function readFileOrThrow(file: string, what: "certificate" | "key" | "client CA"): Buffer {
  try {
    return readFileSync(file);
  } catch (e: unknown) {
    throw new ConfigError(`cannot read TLS ${what} file ${file}: ${describeError(e)}`, {
      cause: e,
    });
  }
}

async function readBoth(files: TlsFiles): Promise<FileContents> {
  const empty = Buffer.alloc(0);
  const { clientCaFile } = files;
  try {
    const [cert, key, clientCa] = await Promise.all([
      readFile(files.certFile),
      readFile(files.keyFile),
      clientCaFile === undefined ? undefined : readFile(clientCaFile),
    ]);
    return {
      signature: hashContents(cert, key, clientCa),
      cert,
      key,
      ...(clientCa === undefined ? {} : { clientCa }),
    };
  } catch (e: unknown) {
    const names = [files.certFile, files.keyFile, ...(clientCaFile ? [clientCaFile] : [])];
    const error = new ConfigError(
      `cannot read TLS files ${names.join(", ")}: ${describeError(e)}`,
      {
        cause: e,
      },
    );
    return { signature: `unreadable: ${error.message}`, cert: empty, key: empty, error };
  }
}

function checkTlsPair(
  files: TlsFiles,
  cert: Buffer,
  key: Buffer,
  clientCa: Buffer | undefined,
): TlsPair {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (e: unknown) {
    throw new ConfigError(
      `TLS certificate file ${files.certFile} does not hold a PEM certificate: ${describeError(e)}`,
      {
        cause: e,
      },
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (e: unknown) {
    throw new ConfigError(
      `TLS key file ${files.keyFile} does not hold a PEM private key: ${describeError(e)}`,
      {
        cause: e,
      },
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `TLS key file ${files.keyFile} does not match certificate ${files.certFile}`,
    );
  }
  try {
    // The same check setSecureContext makes (chain, key type), without touching the server.
    createSecureContext({ cert, key });
  } catch (e: unknown) {
    throw new ConfigError(
      `TLS certificate ${files.certFile} and key ${files.keyFile} are not usable together: ${describeError(e)}`,
      { cause: e },
    );
  }
  if (clientCa !== undefined) checkClientCa(files.clientCaFile ?? "", clientCa);
  return {
    cert,
    key,
    ...(clientCa === undefined ? {} : { clientCa }),
    fingerprint256: certificate.fingerprint256,
    validTo: certificate.validTo,
    subject: certificate.subject,
  };
}

/** A certificate's notAfter in seconds since the epoch (the first certificate of a PEM chain). */
export function readCertificateExpiry(cert: string | Buffer): number {
  return Math.floor(Date.parse(new X509Certificate(cert).validTo) / 1000);
}

/** `validTo` of a TlsPair ("Jan 10 09:05:03 2030 GMT") in seconds since the epoch. */
export function toEpochSeconds(validTo: string): number {
  return Math.floor(Date.parse(validTo) / 1000);
}

/**
 * A client CA file must hold one or more PEM CA certificates: without one, every client would be
 * refused, and a certificate that is no CA would never verify a client.
 */
function checkClientCa(file: string, pem: Buffer): void {
  const blocks = pem.toString("utf8").match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(`client CA file ${file} holds no PEM certificate`);
  }
  for (const [index, block] of blocks.entries()) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch (e: unknown) {
      throw new ConfigError(
        `client CA file ${file}: certificate ${index + 1} does not parse: ${describeError(e)}`,
        { cause: e },
      );
    }
    if (!certificate.ca) {
      throw new ConfigError(
        `client CA file ${file}: certificate ${index + 1} (${certificate.subject.replace(/\n/g, ", ")}) is not a CA certificate`,
      );
    }
  }
  try {
    createSecureContext({ ca: pem });
  } catch (e: unknown) {
    throw new ConfigError(`client CA file ${file} is not usable: ${describeError(e)}`, {
      cause: e,
    });
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function hashContents(cert: Buffer, key: Buffer, clientCa?: Buffer): string {
  const hash = createHash("sha256").update(cert).update("\0").update(key);
  if (clientCa !== undefined) hash.update("\0").update(clientCa);
  return hash.digest("hex");
}

function describePair(files: TlsFiles, pair: TlsPair): Record<string, string> {
  return {
    certFile: files.certFile,
    keyFile: files.keyFile,
    ...(files.clientCaFile === undefined ? {} : { clientCaFile: files.clientCaFile }),
    subject: pair.subject,
    fingerprint256: pair.fingerprint256,
    validTo: pair.validTo,
  };
}

function toConfigError(e: unknown, files: TlsFiles): ConfigError {
  return e instanceof ConfigError
    ? e
    : new ConfigError(
        `cannot use TLS certificate ${files.certFile} with key ${files.keyFile}: ${describeError(e)}`,
        {
          cause: e,
        },
      );
}
