/** A small HTTPS client for server tests: trusts only the test CA, reads whole answers. */
import http from "node:http";
import https from "node:https";

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | number>;
  /** Sent as is; a Buffer or string. */
  readonly body?: string | Buffer;
  /** Send the body in chunks without a Content-Length (Transfer-Encoding: chunked). */
  readonly chunked?: boolean;
  readonly agent?: https.Agent | http.Agent | false;
}

export function requestHttps(
  port: number,
  ca: string,
  path: string,
  options: RequestOptions = {},
): Promise<Answer> {
  return send(https.request, { port, ca, servername: "localhost" }, path, options);
}

export function requestHttp(
  port: number,
  path: string,
  options: RequestOptions = {},
): Promise<Answer> {
  return send(http.request, { port }, path, options);
}

/** POSTs JSON (an object is stringified) to an HTTPS server. */
export function postJson(port: number, ca: string, path: string, body: unknown): Promise<Answer> {
  return requestHttps(port, ca, path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

type Send = (
  options: https.RequestOptions,
  callback: (res: http.IncomingMessage) => void,
) => http.ClientRequest;

function send(
  request: Send,
  base: https.RequestOptions,
  path: string,
  options: RequestOptions,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body ?? "";
    const headers: Record<string, string | number> = { ...options.headers };
    if (!options.chunked && options.body !== undefined) {
      headers["Content-Length"] = Buffer.byteLength(body);
    }
    const req = request(
      {
        ...base,
        host: "127.0.0.1",
        path,
        method: options.method ?? "GET",
        headers,
        agent: options.agent ?? false,
      },
      (res) => {
        collectResponse(res, resolve, reject);
      },
    );
    req.on("error", reject);
    if (options.chunked && options.body !== undefined) {
      const buffer = Buffer.from(body);
      const step = 64 * 1024;
      for (let offset = 0; offset < buffer.length; offset += step) {
        req.write(buffer.subarray(offset, offset + step));
      }
      req.end();
    } else {
      req.end(body);
    }
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A POST that sends the first half of its body now and the rest on `finish()`: an in-flight
 * request for shutdown tests. `sent` resolves once the first half is on the wire.
 */
export function startSlowPost(
  port: number,
  ca: string,
  path: string,
  body: string,
): { sent: Promise<void>; answer: Promise<Answer>; finish: () => void } {
  const half = Math.floor(body.length / 2);
  let finish = (): void => undefined;
  let markSent = (): void => undefined;
  const sent = new Promise<void>((resolve) => {
    markSent = resolve;
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        ca,
        servername: "localhost",
        method: "POST",
        path,
        agent: false,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
      },
      (res) => {
        collectResponse(res, resolve, reject);
      },
    );
    req.on("error", reject);
    req.write(body.slice(0, half), () => {
      markSent();
    });
    finish = () => {
      req.end(body.slice(half));
    };
  });
  return { sent, answer, finish };
}

/** Reads a whole response into the shape the tests assert on. */
function collectResponse(
  res: http.IncomingMessage,
  resolve: (response: Answer) => void,
  reject: (error: Error) => void,
): void {
  const chunks: Buffer[] = [];
  res.on("data", (chunk: Buffer) => chunks.push(chunk));
  res.on("end", () => {
    const text = Buffer.concat(chunks).toString("utf8");
    resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) });
  });
  res.on("error", reject);
}
