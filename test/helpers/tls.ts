import { generateDevCertificates, type DevCertificates } from "../../src/certs/generate.js";

export type TestCertificates = DevCertificates;

let cached: Promise<TestCertificates> | undefined;

/**
 * A throwaway CA and a serving certificate for localhost and 127.0.0.1 (PEM strings), made once
 * per test process. Servers take `cert` and `key`; clients trust only `caCert` (the `ca` option).
 */
export function makeTestCertificates(): Promise<TestCertificates> {
  cached ??= generateDevCertificates({
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validDays: 2,
  });
  return cached;
}
