/**
 * A validating webhook of the test's own, registered with the real API server, that acts in the
 * middle of one chosen request: while the API server waits for its answer about (say) the
 * controller's create of Service x-0, it runs an action (create x-0 as someone else), then allows.
 * The API server stores the chosen request only after that answer, so the action lands exactly
 * between the controller's read of its cache and its write: a race made deterministic.
 */
import https from "node:https";
import path from "node:path";
import { readFileSync } from "node:fs";
import type { Cluster } from "./cluster.js";
import { freePort, makeWorkDir, runCli } from "./stsguard.js";

export interface ReviewedRequest {
  readonly operation: string;
  readonly name: string;
  readonly namespace: string;
  readonly username: string;
}

export interface Interference {
  /** Every Service request the API server sent, in order. */
  readonly seen: ReviewedRequest[];
  /** Runs `action` (once) when a request matching `when` comes, before allowing it. */
  arm(when: (request: ReviewedRequest) => boolean, action: () => Promise<void>): Promise<void>;
  /** Resolves once the armed action has run. */
  fired(): Promise<void>;
  close(): Promise<void>;
}

interface AdmissionReview {
  request: {
    uid: string;
    operation: string;
    name: string;
    namespace: string;
    userInfo: { username: string };
  };
}

export async function startInterference(
  cluster: Cluster,
  namespace: string,
): Promise<Interference> {
  const work = await makeWorkDir("interference");
  const certs = path.join(work, "certs");
  const made = await runCli(["certs", "--out", certs]);
  if (made.code !== 0) throw new Error(`stsguard certs failed: ${made.stderr}`);
  const seen: ReviewedRequest[] = [];
  let armed: {
    when: (request: ReviewedRequest) => boolean;
    action: () => Promise<void>;
    done: () => void;
  } | null = null;
  let firedPromise: Promise<void> = Promise.resolve();

  const server = https.createServer(
    {
      cert: readFileSync(path.join(certs, "tls.crt")),
      key: readFileSync(path.join(certs, "tls.key")),
    },
    (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        void (async () => {
          const review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AdmissionReview;
          const reviewed: ReviewedRequest = {
            operation: review.request.operation,
            name: review.request.name,
            namespace: review.request.namespace,
            username: review.request.userInfo.username,
          };
          seen.push(reviewed);
          const current = armed;
          if (current?.when(reviewed)) {
            armed = null;
            try {
              await current.action();
            } finally {
              current.done();
            }
          }
          response.setHeader("Content-Type", "application/json");
          response.end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response: { uid: review.request.uid, allowed: true },
            }),
          );
        })();
      });
    },
  );
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const name = `e2e-interference-${namespace}`;
  await cluster.apply([
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name },
      webhooks: [
        {
          name: "interfere.e2e.test",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: "Fail",
          timeoutSeconds: 15,
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
          rules: [
            {
              apiGroups: [""],
              apiVersions: ["v1"],
              operations: ["CREATE", "UPDATE", "DELETE"],
              resources: ["services"],
            },
          ],
          clientConfig: {
            url: `https://127.0.0.1:${port}/`,
            caBundle: readFileSync(path.join(certs, "ca.crt")).toString("base64"),
          },
        },
      ],
    },
  ]);
  return {
    seen,
    async arm(when, action) {
      await new Promise<void>((resolve) => {
        firedPromise = new Promise<void>((done) => {
          armed = { when, action, done };
          resolve();
        });
      });
    },
    fired: () => firedPromise,
    async close() {
      await cluster.kubectl([
        "delete",
        "validatingwebhookconfiguration",
        name,
        "--ignore-not-found",
      ]);
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
