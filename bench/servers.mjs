// Server children of the benchmark (the bare baseline webhook, `serve --manifests` for the CLI
// part), each in its own process with an IPC channel, and the certificates they serve.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdir, open, writeFile } from "node:fs/promises";
import { join } from "node:path";

export async function writeCertificates(root, dir) {
  const { generateDevCertificates } = await import(join(root, "dist/certs/generate.js"));
  const pem = await generateDevCertificates({
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validDays: 2,
  });
  await mkdir(dir, { recursive: true });
  const files = { ca: join(dir, "ca.crt"), cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
  await writeFile(files.ca, pem.caCert);
  await writeFile(files.cert, pem.cert);
  await writeFile(files.key, pem.key, { mode: 0o600 });
  return { ...files, caPem: pem.caCert };
}

export function waitForMessage(child, type, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.spawnfile}: no "${type}" message after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message) => {
      if (message?.type === type) {
        cleanup();
        resolvePromise(message);
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`server child exited (${signal ?? code}) before "${type}"`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/**
 * Forks `script` on `node` in its own process (own event loop), stdout going to `logFile`;
 * resolves once it reports its port. `env` replaces NODE_OPTIONS and the like.
 */
export async function startServerChild({ name, node, script, args, logFile, env = {} }) {
  const log = await open(logFile, "w");
  const child = fork(script, args, {
    execPath: node,
    stdio: ["ignore", log.fd, "inherit", "ipc"],
    execArgv: ["--expose-gc"],
    env: { ...process.env, NODE_ENV: "production", NODE_OPTIONS: "", ...env },
  });
  const started = process.hrtime.bigint();
  try {
    const { port } = await waitForMessage(child, "ready", 120_000);
    const startSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { name, child, port, log, logFile, startSeconds };
  } catch (error) {
    child.kill("SIGKILL");
    await log.close();
    throw error;
  }
}

/** Asks a child for a message of `type` (it answers the same type). */
export async function askChild(server, type) {
  const answer = waitForMessage(server.child, type, 10_000);
  server.child.send(type);
  return answer;
}

export async function stopServerChild(server) {
  if (server.stopped) return;
  server.stopped = true;
  if (server.child.exitCode === null && server.child.signalCode === null) {
    const exited = once(server.child, "exit");
    server.child.send("stop");
    const timer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await server.log.close();
}
