import { pino, type DestinationStream, type Logger } from "pino";
import { ConfigError } from "../errors.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  readonly level?: string;
  /** Where JSON lines go; default stdout. Tests pass a memory destination. */
  readonly destination?: DestinationStream;
}

/**
 * Lines waiting for stdout beyond this are dropped rather than held: a stalled log reader must
 * not grow the heap of a webhook sized to its memory limit.
 */
const MAX_PENDING_LOG_BYTES = 4 * 1024 * 1024;

/**
 * Lines are written in batches of this many bytes (about forty admission lines), or every
 * `LOG_FLUSH_INTERVAL_MS` when traffic is light. Each asynchronous write is a hand-off to libuv's
 * thread pool that cost ~120 µs of CPU per line when every admission line was its own write
 * (docs/benchmarks.md); batched, that cost is shared by the lines of a batch. sonic-boom's own
 * writes are up to 16 KiB (its maxWrite).
 */
const LOG_BATCH_BYTES = 16 * 1024;
const LOG_FLUSH_INTERVAL_MS = 100;

/**
 * The one way stsguard makes its logger: JSON lines, ISO timestamps, level names.
 *
 * By default lines go to stdout asynchronously, which `serve` relies on: a synchronous write
 * holds the event loop for every line, and for as long as a stalled reader leaves the pipe full;
 * `process.stdout` on a pipe queues without limit instead (test/server/stalled-log-reader.test.ts).
 * Lines go out in small batches, at most `LOG_FLUSH_INTERVAL_MS` after they were logged, and
 * pino flushes what is pending when the process exits; only a SIGKILL can lose the last batch.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = parseLogLevel(options.level ?? "info");
  const time = isoTimePerMillisecond();
  const stream = options.destination ?? createStdoutLogDestination();
  const logger = pino(
    {
      level,
      base: { name: LOGGER_NAME },
      timestamp: time,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  lineOutputs.set(logger, { stream, time });
  return logger;
}

const LOGGER_NAME = "stsguard";

/** Where a logger made by createLogger writes, for lines written without pino's serializer. */
const lineOutputs = new WeakMap<Logger, { stream: DestinationStream; time: () => string }>();

/** The fields of the `admission` line, in the order they are written; undefined ones are left out. */
export interface AdmissionLogFields {
  readonly endpoint: string;
  readonly uid: string;
  readonly kind: string;
  readonly operation: string;
  readonly namespace: string;
  readonly name: string;
  readonly user: string;
  readonly dryRun: boolean;
  readonly subject: string;
  readonly decision: string;
  readonly mode: string | undefined;
  readonly monitored: true | undefined;
  readonly exemptions: readonly string[] | undefined;
  readonly rules: readonly string[] | undefined;
  readonly patchOps: number;
  readonly lookupFailure: string | undefined;
  readonly durationMs: number;
}

/**
 * Logs the `admission` line at `level` when the logger is enabled for it: the JSON line
 * `logger[level](fields, "admission")` would write, built here for a logger of createLogger.
 * pino's generic serializer escapes every key and value in a loop of JavaScript; on a request
 * answered in ~100 µs that cost more than the rest of the admission (docs/benchmarks.md).
 * Values go through JSON.stringify, so any text a request carries stays one valid JSON string.
 */
export function logAdmission(
  logger: Logger,
  level: "info" | "debug",
  fields: AdmissionLogFields,
): void {
  if (!logger.isLevelEnabled(level)) return;
  const output = lineOutputs.get(logger);
  if (!output) {
    logger[level](fields, "admission");
    return;
  }
  const str = jsonString;
  let line =
    `{"level":"${level}"${output.time()},"name":"${LOGGER_NAME}"` +
    `,"endpoint":${str(fields.endpoint)},"uid":${str(fields.uid)},"kind":${str(fields.kind)}` +
    `,"operation":${str(fields.operation)},"namespace":${str(fields.namespace)}` +
    `,"name":${str(fields.name)},"user":${str(fields.user)},"dryRun":${String(fields.dryRun)}` +
    `,"subject":${str(fields.subject)},"decision":${str(fields.decision)}`;
  if (fields.mode !== undefined) line += `,"mode":${str(fields.mode)}`;
  if (fields.monitored !== undefined) line += `,"monitored":true`;
  if (fields.exemptions !== undefined) line += `,"exemptions":${jsonStrings(fields.exemptions)}`;
  if (fields.rules !== undefined) line += `,"rules":${jsonStrings(fields.rules)}`;
  line += `,"patchOps":${jsonNumber(fields.patchOps)}`;
  if (fields.lookupFailure !== undefined) line += `,"lookupFailure":${str(fields.lookupFailure)}`;
  output.stream.write(`${line},"durationMs":${jsonNumber(fields.durationMs)},"msg":"admission"}\n`);
}

/** `text` as a JSON string; JSON.stringify only when something needs escaping (rarely). */
function jsonString(text: string): string {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    // The quote, the backslash, control characters and surrogates (a lone one is escaped).
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) {
      return JSON.stringify(text);
    }
  }
  return `"${text}"`;
}

function jsonStrings(texts: readonly string[]): string {
  let out = "[";
  for (let i = 0; i < texts.length; i += 1)
    out += (i === 0 ? "" : ",") + jsonString(texts[i] as string);
  return `${out}]`;
}

/** A number as pino writes it: null for what JSON cannot hold. */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

/**
 * pino's `isoTime` (`,"time":"2026-12-06T09:55:12.345Z"`), with the part up to the second
 * formatted once per second: `toISOString` costs more instructions than the rest of an admission
 * line.
 */
function isoTimePerMillisecond(): () => string {
  let second = Number.NaN;
  let head = "";
  return () => {
    const now = Date.now();
    const ms = now % 1000;
    if (now - ms !== second) {
      second = now - ms;
      head = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
    }
    return `${head}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z"`;
  };
}

/** Stdout, written asynchronously; `onDrop` is told of each line dropped beyond the bound. */
export interface StdoutLogDestination extends DestinationStream {
  onDrop(listener: () => void): void;
  /** Starts writing what is batched now, without waiting for a full batch or the interval. */
  flush(): void;
  /** Writes everything pending before returning (at exit). */
  flushSync(): void;
}

export function createStdoutLogDestination(): StdoutLogDestination {
  // sonic-boom writes each batch as it comes (its own EAGAIN, partial-write and EPIPE handling)
  // and holds at most MAX_PENDING_LOG_BYTES; the lines of a batch are gathered here. sonic-boom's
  // own batching (minLength) measured each line against its pending text, flattening and
  // counting up to 4 KiB per line logged (docs/benchmarks.md).
  const boom = pino.destination({ dest: 1, sync: false, maxLength: MAX_PENDING_LOG_BYTES });
  let lines: string[] = [];
  let chars = 0;
  const flush = (): void => {
    if (lines.length === 0) return;
    const batch = lines.join("");
    lines = [];
    chars = 0;
    boom.write(batch);
  };
  const timer = setInterval(flush, LOG_FLUSH_INTERVAL_MS);
  timer.unref();
  // pino flushes sonic-boom when the process exits (synchronously on exit, with the event loop
  // on beforeExit); what is still gathered here must reach sonic-boom before that.
  process.prependListener("beforeExit", flush);
  process.prependListener("exit", flush);
  return {
    write(line: string): void {
      lines.push(line);
      chars += line.length;
      if (chars >= LOG_BATCH_BYTES) flush();
    },
    flush(): void {
      flush();
      boom.flush();
    },
    flushSync(): void {
      flush();
      boom.flushSync();
    },
    onDrop(listener: () => void): void {
      // A batch is dropped whole: one call per line in it.
      boom.on("drop", (batch: string) => {
        for (let at = batch.indexOf("\n"); at !== -1; at = batch.indexOf("\n", at + 1)) listener();
      });
    },
  };
}

export function parseLogLevel(text: string, where = "--log-level"): LogLevel {
  const level = text.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new ConfigError(`${where}: "${text}" is not a log level (${LOG_LEVELS.join(", ")})`);
}

/** A destination that keeps log lines in memory, for tests and benchmarks. */
export interface MemoryLogDestination extends DestinationStream {
  /** Every line written so far, parsed. */
  records(): Record<string, unknown>[];
}

export function createMemoryLogDestination(): MemoryLogDestination {
  const lines: string[] = [];
  return {
    write(line: string): void {
      lines.push(line);
    },
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
