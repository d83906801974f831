import type { ServerResponse } from "node:http";

/**
 * Answers with a `metav1.Status` body. The API server shows the message of a Status body in
 * its error ("failed to call webhook: <message>"), where a plain body only says "unknown".
 */
export function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
): void {
  const payload = JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
  res.statusCode = code;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Content-Length", Buffer.byteLength(payload));
  res.end(payload);
}
