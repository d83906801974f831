// The reference for the admission benchmark: a bare node:https server that reads the body,
// parses it and answers "allowed" with the request's uid. No framework, no logging, no policy.
// Registered with the API server the way stsguard is, it is the bare allow-all webhook.
// Usage (forked by bench/run.mjs): node bench/baseline-server.mjs <cert.pem> <key.pem>
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { reportReady, serveParentRequests } from "./admission.mjs";

const [certFile, keyFile] = process.argv.slice(2);
const counts = { reviews: 0 };
const server = createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile) },
  (req, res) => {
    counts.reviews += 1;
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      let review;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const body = JSON.stringify({
        apiVersion: review.apiVersion,
        kind: review.kind,
        response: { uid: review.request?.uid, allowed: true },
      });
      res
        .writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        })
        .end(body);
    });
  },
);

server.listen(0, "127.0.0.1", () => {
  reportReady(server.address().port);
});
// How many reviews it answered: proves the API server calls it.
process.on("message", (message) => {
  if (message === "counts") process.send({ type: "counts", ...counts });
});
serveParentRequests(
  () =>
    new Promise((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    }),
);
