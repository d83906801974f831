// The benchmarked webhook: `stsguard serve --manifests DIR` as the CLI runs it (runServe from
// dist/, JSON logs at info on stdout, which bench/run.mjs sends to a file), on 127.0.0.1 and a
// free port, without the metrics port.
// Usage (forked by bench/run.mjs): node bench/stsguard-server.mjs <cert.pem> <key.pem> <dir>
import { optimizeHotPathSooner } from "../dist/server/jit-tiering.js";
import { runServe } from "../dist/server/serve.js";
import { reportReady, serveParentRequests } from "./admission.mjs";

const [certFile, keyFile, manifestsDir] = process.argv.slice(2);

let requestStop;
const stopRequested = new Promise((resolve) => {
  requestStop = resolve;
});
let reported = false;
const served = runServe(
  {
    host: "127.0.0.1",
    port: 0,
    metricsPort: null,
    tlsCertFile: certFile,
    tlsKeyFile: keyFile,
    manifestsDir,
    kubeconfig: undefined,
    context: undefined,
    configFile: undefined,
    kubeVersion: undefined,
    logLevel: "info",
  },
  {
    cwd: process.cwd(),
    env: process.env,
    // The start banner names the URL; the port is all the parent needs from it.
    stderr: {
      write(chunk) {
        const port = /stsguard webhook: https:\/\/[^\s:]+:(\d+)/.exec(String(chunk))?.[1];
        if (port !== undefined && !reported) {
          reported = true;
          reportReady(Number(port));
        }
      },
    },
    // No logDestination, as src/cli/commands/serve.ts: the logger's own stdout destination.
    stopRequested,
    // As the CLI: V8's TurboFan threshold lowered once the source is read.
    onSynced: () => {
      optimizeHotPathSooner();
    },
  },
);
serveParentRequests(async () => {
  requestStop("stop");
  await served;
});
try {
  await served;
} catch (error) {
  process.stderr.write(
    `stsguard server failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
  if (process.connected) process.disconnect();
}
