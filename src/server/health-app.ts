import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { WebhookMetrics } from "../observability/metrics.js";
import { sendStatus } from "./status-response.js";

export interface HealthAppDeps {
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Null when ready; otherwise why not, for the /readyz body. */
  readonly notReadyReason: () => string | null;
}

/**
 * Everything but admission: /healthz, /readyz and /metrics, on both ports. Health probes are
 * not logged (they come every few seconds and say nothing).
 */
export function createHealthApp(deps: HealthAppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok\n");
  });
  app.get("/readyz", (_req, res) => {
    const reason = deps.notReadyReason();
    res
      .status(reason === null ? 200 : 503)
      .type("text/plain")
      .send(reason === null ? "ok\n" : `not ready: ${reason}\n`);
  });
  app.get("/metrics", (_req, res, next) => {
    deps.metrics.registry.metrics().then((text) => {
      res.type(deps.metrics.registry.contentType).send(text);
    }, next);
  });
  app.use((req, res) => {
    sendStatus(res, 404, "NotFound", `no route for ${req.method} ${req.path}`);
  });
  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    deps.logger.error({ err: error }, "request failed");
    if (res.headersSent) {
      next(error);
      return;
    }
    sendStatus(res, 500, "InternalError", "internal error");
  });
  return app;
}
