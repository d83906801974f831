// stsguard as a pod of the chart runs it, on this machine: the built CLI on the image's Node,
// with the Deployment's args (its ports, certificate and configuration paths replaced by local
// ones), its environment (NODE_OPTIONS, STSGUARD_LOG_LEVEL), the ConfigMap's configuration, the
// body budget the pod's memory limit gives, and a ServiceAccount token with the chart's RBAC.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { openSync, closeSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  RELEASE_NAMESPACE,
  localArgs,
  rbacObjects,
  renderChart,
  webhookContainer,
} from "./chart.mjs";
import { createObjects, kubeconfigText, namespaceObject, serviceAccountToken } from "./kube.mjs";

const MiB = 1024 * 1024;

function parseQuantity(text) {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(text));
  if (!match) throw new Error(`chart memory limit "${text}" is not a Ki/Mi/Gi quantity`);
  const unit = { Ki: 1024, Mi: MiB, Gi: 1024 * MiB }[match[2]] ?? 1;
  return Number(match[1]) * unit;
}

/**
 * Renders the chart, installs its RBAC on the cluster, and writes what the pod would mount
 * (token as kubeconfig, configuration file). Returns what `startStsguard` needs.
 */
export async function prepareStsguard({ root, cluster, workDir, certs }) {
  const objects = renderChart(root);
  const container = webhookContainer(objects);
  await createObjects(cluster.api, [namespaceObject(RELEASE_NAMESPACE), ...rbacObjects(objects)]);
  const serviceAccount = objects.find((o) => o.kind === "ServiceAccount").metadata.name;
  const token = await serviceAccountToken(cluster.api, RELEASE_NAMESPACE, serviceAccount);
  const kubeconfig = join(workDir, "stsguard.kubeconfig");
  writeFileSync(kubeconfig, kubeconfigText(cluster.api, cluster.caFile, token), { mode: 0o600 });
  const configFile = join(workDir, "stsguard-config.yaml");
  if (container.configYaml !== null) writeFileSync(configFile, container.configYaml);
  const memoryLimitBytes = parseQuantity(container.memoryLimit);
  const { defaultBodyBudgetBytes } = await import(join(root, "dist/memory/body-budget.js"));
  const { DEFAULT_MAX_BODY_BYTES } = await import(join(root, "dist/server/admission-handler.js"));
  const args = localArgs(container.args, {
    "--port": "0",
    "--metrics-port": "0",
    "--tls-cert": certs.cert,
    "--tls-key": certs.key,
    ...(container.configYaml !== null ? { "--config": configFile } : {}),
  });
  return {
    objects,
    token,
    args,
    env: {
      ...container.env,
      // In a pod: the ServiceAccount token the kubelet mounts, read as in-cluster config.
      KUBECONFIG: kubeconfig,
      // Loopback only on this machine; a pod listens on every interface of its own.
      STSGUARD_HOST: "127.0.0.1",
      // What the pod derives from its cgroup's memory limit (this machine has none).
      STSGUARD_BODY_BUDGET: String(
        defaultBodyBudgetBytes(memoryLimitBytes, DEFAULT_MAX_BODY_BYTES),
      ),
    },
    memoryLimitBytes,
  };
}

export function readProcStatus(pid) {
  return readFile(`/proc/${pid}/status`, "utf8").then((text) => {
    const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { rssBytes: kib("VmRSS") * 1024, peakRssBytes: kib("VmHWM") * 1024 };
  });
}

/**
 * Spawns `node dist/cli.js <the chart's args>` with the chart's environment on `node`; resolves
 * once /readyz answers 200, with the time that took and RSS at that moment. For profiling:
 * `extraNodeArgs` go before the script, `wrapper` (valgrind ...) before node.
 */
export async function startStsguard({
  root,
  node,
  prepared,
  logFile,
  extraNodeArgs = [],
  wrapper = [],
  readyTimeoutMs = 60_000,
}) {
  const log = openSync(logFile, "w");
  const started = process.hrtime.bigint();
  const command = [
    ...wrapper,
    node,
    ...extraNodeArgs,
    join(root, "dist", "cli.js"),
    ...prepared.args,
  ];
  const child = spawn(command[0], command.slice(1), {
    cwd: root,
    stdio: ["ignore", log, "pipe"],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...prepared.env },
  });
  closeSync(log);
  // Spawned without an IPC channel: make sure it does not outlive an interrupted benchmark.
  const killChild = () => child.kill("SIGKILL");
  process.once("exit", killChild);
  child.once("exit", () => process.off("exit", killChild));
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += String(chunk);
  });
  const exited = once(child, "exit");
  const deadline = Date.now() + readyTimeoutMs;
  let ports = null;
  while (Date.now() < deadline && child.exitCode === null) {
    const port = /stsguard webhook: https:\/\/[^\s:]+:(\d+)/.exec(stderr)?.[1];
    const metricsPort = /metrics: +http:\/\/[^\s:]+:(\d+)/.exec(stderr)?.[1];
    if (port && metricsPort) {
      ports ??= { port: Number(port), metricsPort: Number(metricsPort) };
      const ready = await globalThis
        .fetch(`http://127.0.0.1:${metricsPort}/readyz`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ready) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const readySeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (child.exitCode !== null || !ports || Date.now() >= deadline) {
    child.kill("SIGKILL");
    throw new Error(`stsguard serve did not become ready: ${stderr.slice(-2000)}`);
  }
  const atReady = await readProcStatus(child.pid);
  return {
    child,
    exited,
    ...ports,
    readySeconds,
    rssAtReadyBytes: atReady.rssBytes,
    stderr: () => stderr,
    /** SIGKILL: between start-up samples, where the chart's 5 s drain would only wait. */
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
