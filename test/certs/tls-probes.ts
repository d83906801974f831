import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:https";
import { isIP, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { pino, type Logger } from "pino";
export { waitFor } from "../helpers/wait-for.js";

export interface LogCapture {
  readonly logger: Logger;
  readonly records: Record<string, unknown>[];
}

export function captureLogs(): LogCapture {
  const records: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write(line: string): void {
        records.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, records };
}

export async function makeTempDir(
  prefix: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `stsguard-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

/**
 * The SHA-256 fingerprint of the certificate a brand-new TLS connection is served (no session
 * reuse), verified against `ca` for `name` (a DNS name, or an IP the server listens on).
 */
export function fetchServedFingerprint(
  port: number,
  ca: readonly string[],
  name = "localhost",
): Promise<string> {
  // An IP address is checked against the certificate's IP SANs; TLS SNI may not carry one.
  const target = isIP(name) === 0 ? { host: "127.0.0.1", servername: name } : { host: name };
  return new Promise((resolve, reject) => {
    const socket = connect({ ...target, port, ca: [...ca], rejectUnauthorized: true }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on("error", reject);
  });
}
