import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { admit, type AdmitDeps } from "../admission/admit.js";
import type { LiveConfig } from "../config/reload.js";
import { findExcessNesting, MAX_NESTING_DEPTH, nestsDeeperThan } from "../admission/json-depth.js";
import { parseReview, toReviewResponse } from "../admission/review.js";
import type { AdmissionMode, AdmissionRequest, AdmissionResult } from "../admission/types.js";
import { BadReviewError, describeError } from "../errors.js";
import { truncateText } from "../policy/echo.js";
import type { BodyBudget, Release } from "../memory/body-budget.js";
import { logAdmission } from "../observability/logger.js";
import type { AdmissionDecision, WebhookMetrics } from "../observability/metrics.js";
import { sendStatus } from "./status-response.js";

/**
 * An AdmissionReview holds the object and the old object, each at most ~1.5 MiB (etcd's limit),
 * and stsguard only asks for Services and StatefulSets, which are far smaller.
 */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * Bodies larger than this are scanned for deep nesting byte by byte before JSON.parse, which
 * spends ~0.5 s on 3 MB of brackets. A smaller body is parsed first (even all brackets, it
 * parses in a few ms, less than an ordinary 3 MB body) and its parsed value is checked, which
 * costs a quarter of the scan: on every request the size of an AdmissionReview.
 */
const SCAN_BEFORE_PARSE_BYTES = 64 * 1024;

export interface AdmissionHandlerDeps extends Omit<AdmitDeps, "config"> {
  /** Read once per request: a reload never changes the rules under a request in flight. */
  readonly config: LiveConfig;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  readonly maxBodyBytes: number;
  /** Bytes of bodies in flight; a request that does not fit waits, then gets 429. */
  readonly bodyBudget: BodyBudget;
  /** True once shutdown began: answers then ask the client to close the connection. */
  readonly isClosing: () => boolean;
}

export type AdmissionHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  mode: AdmissionMode,
) => void;

/**
 * POST /mutate and /validate straight on node:http, off express: this is the hot path, and
 * body parsing middleware, routing and per-request child loggers cost more than admission itself.
 * One read into a byte-capped buffer, one JSON.parse, admit, one JSON.stringify, one log line.
 */
export function createAdmissionHandler(deps: AdmissionHandlerDeps): AdmissionHandler {
  const { logger, metrics, maxBodyBytes, bodyBudget } = deps;
  // A client that keeps sending after its 413 is cut off once it has sent this much more.
  const drainLimit = maxBodyBytes * 4;

  // Once shutdown began, every answer asks the client to close its (kept-alive) connection.
  const closeIfStopping = (res: ServerResponse): void => {
    if (deps.isClosing()) res.setHeader("Connection", "close");
  };

  const reject = (
    res: ServerResponse,
    mode: AdmissionMode,
    code: number,
    reason: string,
    message: string,
    started: number,
  ): void => {
    closeIfStopping(res);
    sendStatus(res, code, reason, message);
    metrics.observeAdmission(mode, "rejected", [], (performance.now() - started) / 1000);
    logger.warn({ endpoint: mode, status: code, reason }, message);
  };

  const answer = async (
    res: ServerResponse,
    mode: AdmissionMode,
    body: Buffer,
    started: number,
  ): Promise<void> => {
    const rejectTooDeep = (): void => {
      const message =
        `request body nests deeper than ${MAX_NESTING_DEPTH} levels ` +
        `(at byte ${findExcessNesting(body)}); no Kubernetes object stsguard judges comes near that`;
      reject(res, mode, 400, "BadRequest", message, started);
    };
    const scanFirst = body.length > SCAN_BEFORE_PARSE_BYTES;
    if (scanFirst && findExcessNesting(body) !== -1) {
      rejectTooDeep();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch (error: unknown) {
      const message = `request body is not valid JSON: ${describeError(error)}`;
      reject(res, mode, 400, "BadRequest", message, started);
      return;
    }
    if (!scanFirst && nestsDeeperThan(parsed)) {
      rejectTooDeep();
      return;
    }
    let request: AdmissionRequest;
    try {
      request = parseReview(parsed);
    } catch (error: unknown) {
      if (!(error instanceof BadReviewError)) throw error;
      reject(res, mode, 400, "BadRequest", `bad AdmissionReview: ${error.message}`, started);
      return;
    }
    let result: AdmissionResult;
    try {
      const verdict = admit(request, mode, {
        source: deps.source,
        namespaces: deps.namespaces,
        now: deps.now,
        config: deps.config.current(),
        ...(deps.exposeApproval ? { exposeApproval: deps.exposeApproval } : {}),
      });
      // Answered from memory, the common case: no await, so no microtask hop before the write.
      result = verdict instanceof Promise ? await verdict : verdict;
    } catch (error: unknown) {
      // A bug, not a verdict: a 500 lets the API server apply the webhook's failurePolicy.
      closeIfStopping(res);
      sendStatus(res, 500, "InternalError", `stsguard failed to admit ${request.uid}`);
      metrics.observeAdmission(mode, "error", [], (performance.now() - started) / 1000);
      logger.error({ err: error, endpoint: mode, uid: request.uid }, "admission failed");
      return;
    }
    const payload = JSON.stringify(toReviewResponse(request.uid, result, mode));
    closeIfStopping(res);
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(payload),
    });
    res.end(payload);
    const decision = toDecision(result);
    const durationSeconds = (performance.now() - started) / 1000;
    metrics.observeAdmission(
      mode,
      decision,
      result.findings,
      durationSeconds,
      result.guardMode,
      result.exemptions,
    );
    // What an operator acts on at info; a plain allow (most requests) only at debug.
    const level = isNotable(decision, result) ? "info" : "debug";
    if (!logger.isLevelEnabled(level)) return;
    logAdmission(logger, level, {
      endpoint: mode,
      uid: request.uid,
      kind: request.kind.kind,
      operation: request.operation,
      namespace: truncateText(request.namespace),
      name: truncateText(request.name),
      // Who asked: the user a denial stopped, or whose object was changed.
      user: truncateText(request.userInfo.username),
      dryRun: request.dryRun,
      subject: result.subject,
      decision,
      mode: result.guardMode ?? undefined,
      // In monitor mode the answer allowed untouched; `decision` is what enforce would have done.
      monitored: result.monitored === null ? undefined : true,
      exemptions: result.exemptions.length > 0 ? result.exemptions : undefined,
      rules: ruleIds(result),
      patchOps: result.patch.length,
      lookupFailure: result.lookupFailure ?? undefined,
      durationMs: Math.round(durationSeconds * 1e6) / 1e3,
    });
  };

  return (req, res, mode) => {
    const started = performance.now();
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      reject(res, mode, 405, "MethodNotAllowed", `/${mode} accepts only POST`, started);
      req.resume();
      return;
    }
    const { contentType, contentLength } = readBodyHeaders(req.rawHeaders);
    if (contentType !== undefined && !isJson(contentType)) {
      reject(
        res,
        mode,
        415,
        "UnsupportedMediaType",
        `/${mode} takes Content-Type application/json, not ${contentType}`,
        started,
      );
      req.resume();
      return;
    }
    const declared = Number(contentLength ?? 0);
    let size = 0;
    let tooLarge = false;
    const chunks: Buffer[] = [];
    const refuse = (): void => {
      tooLarge = true;
      chunks.length = 0;
      reject(
        res,
        mode,
        413,
        "RequestEntityTooLarge",
        `request body is larger than ${maxBodyBytes} bytes`,
        started,
      );
    };
    if (declared > maxBodyBytes) {
      refuse();
      // Not worth reading: close once the 413 is out rather than drain it.
      if (declared > drainLimit) req.socket.destroySoon();
    }
    req.on("error", (error: unknown) => {
      logger.debug({ err: error, endpoint: mode }, "client went away during the request");
    });
    const readBody = (release: Release | null): void => {
      // Counted until the answer is out (or the connection is gone): the parsed review lives
      // that long.
      if (release) res.on("close", release);
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (tooLarge) {
          // Read and drop the rest so the client sees the 413 instead of a reset connection.
          if (size > drainLimit) req.socket.destroy();
          return;
        }
        if (size > maxBodyBytes) {
          refuse();
          return;
        }
        chunks.push(chunk);
      });
      req.on("end", () => {
        if (tooLarge) return;
        const body = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size);
        chunks.length = 0;
        answer(res, mode, body, started).catch((error: unknown) => {
          logger.error({ err: error, endpoint: mode }, "admission handler failed");
          if (!res.headersSent) sendStatus(res, 500, "InternalError", "stsguard failed");
        });
      });
    };
    if (declared > maxBodyBytes) {
      // Already answered 413; what is read now is dropped, so it takes no budget.
      readBody(null);
      return;
    }
    // The API server always sends a Content-Length; a chunked body may grow to the cap.
    const bytes = declared > 0 ? declared : maxBodyBytes;
    const reserved = bodyBudget.tryReserve(bytes);
    if (reserved) {
      readBody(reserved);
      return;
    }
    const gone = new AbortController();
    const onClose = (): void => {
      gone.abort();
    };
    res.on("close", onClose);
    void bodyBudget.reserve(bytes, gone.signal).then((release) => {
      res.off("close", onClose);
      if (release) {
        readBody(release);
        return;
      }
      if (gone.signal.aborted) return;
      res.setHeader("Retry-After", "1");
      // The unread body stays on the connection: it cannot be reused.
      res.setHeader("Connection", "close");
      reject(
        res,
        mode,
        429,
        "TooManyRequests",
        `stsguard is busy: request bodies in flight already fill its memory budget of ` +
          `${bodyBudget.maxBytes} bytes and none freed room within ${bodyBudget.maxWaitMs} ms; retry`,
        started,
      );
    });
  };
}

/**
 * Whether an answer is logged at info: a denial, a patch, warnings or findings, a lookup
 * failure (all also when monitor mode only counts them). Gatekeeper (`--log-denies`) and
 * Kyverno at its default verbosity log likewise: what was refused or changed, not every allow.
 */
function isNotable(decision: AdmissionDecision, result: AdmissionResult): boolean {
  return (
    decision !== "allowed" ||
    result.findings.length > 0 ||
    result.warnings.length > 0 ||
    result.lookupFailure !== null
  );
}

/** The decision as counted: in monitor mode, what enforce would have answered. */
function toDecision(result: AdmissionResult): AdmissionDecision {
  const { monitored } = result;
  if (monitored !== null) {
    if (!monitored.allowed) return "denied";
    return monitored.patchOps > 0 ? "patched" : "allowed";
  }
  if (!result.allowed) return "denied";
  return result.patch.length > 0 ? "patched" : "allowed";
}

function ruleIds(result: AdmissionResult): string[] | undefined {
  if (result.findings.length === 0) return undefined;
  return [...new Set(result.findings.map((f) => f.rule))];
}

/**
 * Content-Type and Content-Length as `req.headers` would give them (the first of duplicates),
 * read from the raw headers: `req.headers` builds a lower-cased copy of every header, which
 * this path would otherwise pay on every request.
 */
function readBodyHeaders(raw: readonly string[]): {
  contentType: string | undefined;
  contentLength: string | undefined;
} {
  let contentType: string | undefined;
  let contentLength: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 12) {
      if (contentType === undefined && name.toLowerCase() === "content-type") {
        contentType = raw[i + 1];
      }
    } else if (name.length === 14) {
      if (contentLength === undefined && name.toLowerCase() === "content-length") {
        contentLength = raw[i + 1];
      }
    }
  }
  return { contentType, contentLength };
}

/** application/json, any charset or suffix parameters, and the +json structured syntax. */
function isJson(contentType: string): boolean {
  // What the API server sends, checked first: this runs on every request.
  if (contentType === "application/json") return true;
  const type = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}
