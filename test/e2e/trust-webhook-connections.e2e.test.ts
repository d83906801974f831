// Issue 20, item 6, against the real API server: with `serve --client-ca`, the API server's calls
// succeed because it presents the client certificate its AdmissionConfiguration names for the
// webhook's host:port (docs/security.md), while a request without a certificate is refused in
// the TLS handshake; a webhook the kubeconfig has no entry for gets no certificate, and its calls
// fail. And the first-request deadline (--headers-timeout 1s) cuts a silent client but never the
// API server's kept-alive connections, which idle between calls.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { makeClientCertificates, type ClientCertificates } from "../helpers/client-certs.js";
import { installRbac, installWebhooks, waitForWebhooks } from "./support/chart.js";
import { startCluster, type Cluster } from "./support/cluster.js";
import { freePort, makeWorkDir, startServe, type ServeProcess } from "./support/stsguard.js";

let cluster: Cluster | undefined;
let api: Cluster;
let serve: ServeProcess | undefined;
let noCertificate: ServeProcess | undefined;
let apiserverClient: ClientCertificates;
let clientCaFile: string;

/**
 * The API server's side: an AdmissionConfiguration whose webhook kubeconfig has a user entry
 * keyed by the webhook's host:port, with the client certificate to present there.
 */
function writeAdmissionConfiguration(dir: string, webhookHostPort: string): string {
  const kubeconfig = path.join(dir, "webhook-kubeconfig.yaml");
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      users: [
        {
          name: webhookHostPort,
          user: {
            "client-certificate-data": Buffer.from(apiserverClient.cert).toString("base64"),
            "client-key-data": Buffer.from(apiserverClient.key).toString("base64"),
          },
        },
      ],
    }),
    { mode: 0o600 },
  );
  const webhookConfiguration = {
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "WebhookAdmissionConfiguration",
    kubeConfigFile: kubeconfig,
  };
  const file = path.join(dir, "admission-configuration.yaml");
  writeFileSync(
    file,
    stringify({
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AdmissionConfiguration",
      plugins: [
        { name: "ValidatingAdmissionWebhook", configuration: webhookConfiguration },
        { name: "MutatingAdmissionWebhook", configuration: webhookConfiguration },
      ],
    }),
  );
  return file;
}

const perPodService = (namespace: string, name: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace },
  spec: {
    type: "LoadBalancer",
    selector: { "statefulset.kubernetes.io/pod-name": name },
    ports: [{ port: 80 }],
  },
});

beforeAll(async () => {
  apiserverClient = await makeClientCertificates("kube-apiserver-webhook-client");
  const work = await makeWorkDir("client-ca");
  clientCaFile = path.join(work, "client-ca.crt");
  writeFileSync(clientCaFile, apiserverClient.caCert);
  const port = await freePort();
  api = cluster = await startCluster({
    apiserverFlags: `--admission-control-config-file=${writeAdmissionConfiguration(work, `127.0.0.1:${port}`)}`,
  });
  const kubeconfig = await installRbac(api);
  serve = await startServe({
    kubeconfig,
    port,
    args: ["--client-ca", clientCaFile, "--headers-timeout", "1s"],
  });
  await installWebhooks(api, serve);
  await api.createNamespace("guarded");
  await waitForWebhooks(api, "guarded");
});

afterAll(async () => {
  await noCertificate?.stop();
  await serve?.stop();
  await cluster?.stop();
});

type Outcome = { status: number } | { refused: string };

/** GET /healthz over HTTPS, trusting serve's CA, presenting `client` (or no certificate). */
function getHealthz(process: ServeProcess, client?: ClientCertificates): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: process.port,
        path: "/healthz",
        ca: Buffer.from(process.caBundle, "base64"),
        agent: false,
        ...(client ? { cert: client.cert, key: client.key } : {}),
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0 });
        });
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => {
      resolve({ refused: error.code ?? error.message });
    });
    req.end();
  });
}

function curl(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn("curl", ["--silent", "--show-error", "--max-time", "10", ...args]);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  return new Promise((resolve) => {
    child.on("close", (code) => {
      resolve({ code, stderr });
    });
  });
}

async function metric(process: ServeProcess, pattern: RegExp): Promise<number> {
  const match = pattern.exec(await process.metrics());
  return match ? Number(match[1]) : 0;
}

const CUT_TIMEOUT = /^stsguard_connections_cut_total\{reason="first-request-timeout"\} (\d+)$/m;
const CUT_TLS = /^stsguard_connections_cut_total\{reason="tls-handshake-failed"\} (\d+)$/m;

describe("serve --client-ca behind the real API server", () => {
  it("admits through the API server, which presents its client certificate: mutated, and denied past the replicas", async () => {
    await api.apply([
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "web", namespace: "guarded" },
        spec: {
          replicas: 2,
          serviceName: "web",
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "nginx" }] },
          },
        },
      },
      perPodService("guarded", "web-1"),
    ]);
    const stored = await api.get<{ spec: { externalTrafficPolicy: string } }>(
      "service",
      "web-1",
      "guarded",
    );
    expect(stored?.spec.externalTrafficPolicy).toBe("Local");
    const denied = await api.apply([perPodService("guarded", "web-5")], { allowFailure: true });
    expect(denied.stderr).toContain(
      'admission webhook "validate.stsguard.io" denied the request: ordinal-out-of-range: Service guarded/web-5 selects pod web-5, but StatefulSet web has 2 replicas (ordinals 0-1)',
    );
  });

  it("refuses a plain HTTPS request without a client certificate in the handshake", async () => {
    if (!serve) throw new Error("serve did not start");
    const before = await metric(serve, CUT_TLS);
    const outcome = await getHealthz(serve);
    expect(outcome).not.toHaveProperty("status");
    const plainCurl = await curl(["--cacert", serve.caFile, serve.url("/validate")]);
    // 56: failure receiving data (the server's certificate_required alert); 35: TLS error.
    expect([35, 56]).toContain(plainCurl.code);
    expect(await metric(serve, CUT_TLS)).toBeGreaterThanOrEqual(before + 2);
    // With the API server's certificate, the same request is served.
    expect(await getHealthz(serve, apiserverClient)).toEqual({ status: 200 });
  });

  it("serves probes on the plain metrics port without any certificate", async () => {
    expect(await serve?.readyz()).toBe(200);
  });

  it("fails the API server's calls to a --client-ca webhook its kubeconfig has no entry for", async () => {
    if (!serve) throw new Error("serve did not start");
    const kubeconfig = await installRbac(api);
    noCertificate = await startServe({ kubeconfig, args: ["--client-ca", clientCaFile] });
    await api.createNamespace("no-certificate");
    await api.apply([
      {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingWebhookConfiguration",
        metadata: { name: "no-certificate" },
        webhooks: [
          {
            name: "no-certificate.stsguard.io",
            clientConfig: { url: noCertificate.url("/validate"), caBundle: noCertificate.caBundle },
            rules: [
              {
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["services"],
                operations: ["CREATE"],
              },
            ],
            namespaceSelector: {
              matchLabels: { "kubernetes.io/metadata.name": "no-certificate" },
            },
            sideEffects: "None",
            admissionReviewVersions: ["v1"],
            failurePolicy: "Fail",
            timeoutSeconds: 5,
          },
        ],
      },
    ]);
    const refused = await api.apply([perPodService("no-certificate", "web-0")], {
      allowFailure: true,
    });
    expect(refused.code).not.toBe(0);
    // TLS 1.3: the API server's side of the handshake is done before stsguard has judged its
    // (missing) certificate, so stsguard's alert reaches it either before it writes the request
    // ("certificate required") or while it writes ("broken pipe", "connection reset"). Either
    // way the call fails, and the TLS metric below shows stsguard refused the handshake.
    const call =
      'Internal error occurred: failed calling webhook "no-certificate.stsguard.io": failed to call webhook: ' +
      `Post "${noCertificate.url("/validate")}?timeout=5s": `;
    const reason = refused.stderr.slice(refused.stderr.indexOf(call) + call.length).split("\n")[0];
    expect(refused.stderr).toContain(call);
    expect(reason).toMatch(
      /^(remote error: tls: certificate required|.*write: (broken pipe|connection reset by peer))$/,
    );
    expect(await metric(noCertificate, CUT_TLS)).toBeGreaterThan(0);
    await api.kubectl(["delete", "validatingwebhookconfiguration", "no-certificate"]);
  });
});

describe("the first-request deadline (--headers-timeout 1s) behind the real API server", () => {
  it("cuts a silent client within the deadline, and never the API server's kept-alive connections", async () => {
    if (!serve) throw new Error("serve did not start");
    const cutBefore = await metric(serve, CUT_TIMEOUT);
    // An authenticated client that then sends nothing.
    const started = Date.now();
    const silent = tls.connect({
      host: "127.0.0.1",
      port: serve.port,
      ca: Buffer.from(serve.caBundle, "base64"),
      cert: apiserverClient.cert,
      key: apiserverClient.key,
    });
    silent.on("error", () => undefined);
    let received = "";
    silent.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const closedAfter = await new Promise<number>((resolve) => {
      silent.on("close", () => {
        resolve(Date.now() - started);
      });
    });
    expect(closedAfter).toBeLessThan(2_500);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(await metric(serve, CUT_TIMEOUT)).toBe(cutBefore + 1);

    // The API server calls, idles (its connections stay open up to 90 s), and calls again.
    for (let call = 0; call < 3; call++) {
      const dryRun = await api.kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], {
        input: JSON.stringify(perPodService("guarded", "web-0")),
      });
      expect(JSON.parse(dryRun.stdout)).toMatchObject({
        spec: { externalTrafficPolicy: "Local" },
      });
      await new Promise((resolve) => setTimeout(resolve, 2_500));
    }
    expect(await metric(serve, CUT_TIMEOUT)).toBe(cutBefore + 1);
  });
});
