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
 * Lines are written in batches of this many bytes (about ten admission lines), or every
 * `LOG_FLUSH_INTERVAL_MS` when traffic is light. Each asynchronous write is a hand-off to libuv's
 * thread pool that cost ~120 µs of CPU per line when every admission line was its own write
 * (docs/benchmarks.md); batched, that cost is shared by the lines of a batch.
 */
const LOG_BATCH_BYTES = 4096;
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
  return pino(
    {
      level,
      base: { name: "stsguard" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? createStdoutLogDestination(),
  );
}

/** Stdout, written asynchronously; `onDrop` is told of each line dropped beyond the bound. */
export interface StdoutLogDestination extends DestinationStream {
  onDrop(listener: () => void): void;
  /** Starts writing what is batched now, without waiting for a full batch or the interval. */
  flush(): void;
}

export function createStdoutLogDestination(): StdoutLogDestination {
  const stream = pino.destination({
    dest: 1,
    sync: false,
    maxLength: MAX_PENDING_LOG_BYTES,
    minLength: LOG_BATCH_BYTES,
    periodicFlush: LOG_FLUSH_INTERVAL_MS,
  });
  // sonic-boom's own `flush` is the interface's.
  return Object.assign(stream, {
    // pino writes one line per write, so one `drop` is one line.
    onDrop: (listener: () => void): void => {
      stream.on("drop", listener);
    },
  });
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
