import { KeyObject, X509Certificate, randomBytes, webcrypto } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { ConfigError, describeError } from "../errors.js";
import { writeFileAtomic } from "../files/atomic-write.js";
import { findCertificateProblem } from "./inspect.js";
import { isDnsName, isIpAddress } from "./names.js";

export interface DevCertificateOptions {
  /** Every DNS name clients use to reach the server; the first one is also the subject CN. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Validity of the CA and the serving certificate, from now. Default 365. */
  readonly validDays?: number;
  /** The clock; tests pass a fixed date. */
  readonly now?: Date;
}

/** PEM text: the CA certificate, the serving certificate signed by it, and its PKCS#8 key. */
export interface DevCertificates {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

export interface DevCertificateFiles {
  readonly caCertFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** base64 of the CA PEM: the `clientConfig.caBundle` of a webhook configuration. */
  readonly caBundle: string;
  /** When the serving certificate expires. */
  readonly notAfter: Date;
}

export interface EnsuredDevCertificates extends DevCertificateFiles {
  readonly outcome: "reused" | "generated";
  /** Why the files were reused or (re)generated, for a log line. */
  readonly reason: string;
}

export const DEV_CERTIFICATE_FILE_NAMES = {
  caCert: "ca.crt",
  cert: "tls.crt",
  key: "tls.key",
} as const;

const DEFAULT_VALID_DAYS = 365;
/** Files that expire sooner than this are replaced rather than reused. */
export const REUSE_MIN_REMAINING_MS = 7 * 24 * 60 * 60 * 1000;
/** Back-date notBefore so a verifier whose clock is a little behind ours still accepts. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/** Makes a throwaway CA and a serverAuth certificate it signed, for development and tests. */
export async function generateDevCertificates(
  options: DevCertificateOptions,
): Promise<DevCertificates> {
  const { dnsNames, ipAddresses } = validateOptions(options);
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const notAfter = new Date(now.getTime() + (options.validDays ?? DEFAULT_VALID_DAYS) * DAY_MS);
  const crypto = webcrypto;

  const caKeys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: createSerialNumber(),
      name: "CN=stsguard development CA, O=stsguard",
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  const leafKeys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const leafCert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: createSerialNumber(),
      subject: `CN=${dnsNames[0] ?? ipAddresses[0] ?? "stsguard"}`,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension([
          ...dnsNames.map((value) => ({ type: "dns" as const, value })),
          ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
        ]),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  return {
    caCert: caCert.toString("pem") + "\n",
    cert: leafCert.toString("pem") + "\n",
    key: exportPkcs8Pem(leafKeys.privateKey),
  };
}

/** Generates fresh certificates and writes ca.crt, tls.crt and tls.key (0600) into `dir`. */
export async function writeDevCertificates(
  dir: string,
  options: DevCertificateOptions,
): Promise<DevCertificateFiles> {
  const certificates = await generateDevCertificates(options);
  const files = toFilePaths(dir);
  await mkdir(dir, { recursive: true });
  // A reloading server may read the new key with the old certificate in between; it waits for
  // a consistent pair (see src/server/tls.ts).
  await writeCertificateFile(files.keyFile, certificates.key, 0o600);
  await writeCertificateFile(files.certFile, certificates.cert, 0o644);
  await writeCertificateFile(files.caCertFile, certificates.caCert, 0o644);
  return { ...files, ...describeCertificates(certificates) };
}

/**
 * Reuses the certificates in `dir` when they cover every requested name, chain to ca.crt, match
 * their key and stay valid for at least 7 more days; otherwise writes new ones.
 */
export async function ensureDevCertificates(
  dir: string,
  options: DevCertificateOptions,
): Promise<EnsuredDevCertificates> {
  const { dnsNames, ipAddresses } = validateOptions(options);
  const files = toFilePaths(dir);
  const existing = await readExisting(files);
  if (existing !== null) {
    const problem = findCertificateProblem(existing, {
      dnsNames,
      ipAddresses,
      now: options.now ?? new Date(),
      minRemainingMs: REUSE_MIN_REMAINING_MS,
    });
    if (problem === null) {
      return {
        ...files,
        ...describeCertificates(existing),
        outcome: "reused",
        reason: `existing certificates in ${dir} are valid for the requested names`,
      };
    }
    const written = await writeDevCertificates(dir, options);
    return { ...written, outcome: "generated", reason: `replaced: ${problem}` };
  }
  const written = await writeDevCertificates(dir, options);
  return { ...written, outcome: "generated", reason: `no complete set of certificates in ${dir}` };
}

export function toCaBundle(caCertPem: string): string {
  return Buffer.from(caCertPem, "utf8").toString("base64");
}

// --- internal ---

function validateOptions(options: DevCertificateOptions): {
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
} {
  const dnsNames = options.dnsNames;
  const ipAddresses = options.ipAddresses ?? [];
  if (dnsNames.length + ipAddresses.length === 0) {
    throw new ConfigError("a certificate needs at least one DNS name or IP address");
  }
  const badName = dnsNames.find((name) => !isDnsName(name));
  if (badName !== undefined) {
    throw new ConfigError(`"${badName}" is not a valid DNS name (lower-case RFC 1123)`);
  }
  const badIp = ipAddresses.find((ip) => !isIpAddress(ip));
  if (badIp !== undefined) {
    throw new ConfigError(`"${badIp}" is not a valid IP address`);
  }
  const validDays = options.validDays ?? DEFAULT_VALID_DAYS;
  if (!Number.isInteger(validDays) || validDays < 1) {
    throw new ConfigError(`validity must be a whole number of days >= 1, got ${validDays}`);
  }
  return { dnsNames, ipAddresses };
}

/** 16 random bytes as a positive DER integer whose first byte is not zero (RFC 5280 4.1.2.2). */
function createSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}

function exportPkcs8Pem(privateKey: webcrypto.CryptoKey): string {
  const pem = KeyObject.from(privateKey).export({ type: "pkcs8", format: "pem" });
  return typeof pem === "string" ? pem : pem.toString("utf8");
}

function describeCertificates(
  certificates: DevCertificates,
): Pick<DevCertificateFiles, "caBundle" | "notAfter"> {
  return {
    caBundle: toCaBundle(certificates.caCert),
    notAfter: new Date(Date.parse(new X509Certificate(certificates.cert).validTo)),
  };
}

type DevCertificatePaths = Omit<DevCertificateFiles, "caBundle" | "notAfter">;

function toFilePaths(dir: string): DevCertificatePaths {
  return {
    caCertFile: join(dir, DEV_CERTIFICATE_FILE_NAMES.caCert),
    certFile: join(dir, DEV_CERTIFICATE_FILE_NAMES.cert),
    keyFile: join(dir, DEV_CERTIFICATE_FILE_NAMES.key),
  };
}

async function readExisting(files: DevCertificatePaths): Promise<DevCertificates | null> {
  try {
    const [caCert, cert, key] = await Promise.all([
      readFile(files.caCertFile, "utf8"),
      readFile(files.certFile, "utf8"),
      readFile(files.keyFile, "utf8"),
    ]);
    return { caCert, cert, key };
  } catch (e: unknown) {
    if (isErrnoException(e) && e.code === "ENOENT") {
      return null;
    }
    throw new ConfigError(`cannot read development certificates: ${describeError(e)}`, {
      cause: e,
    });
  }
}

/** Readers see the old file or the new one, never a half-written one. */
async function writeCertificateFile(file: string, content: string, mode: number): Promise<void> {
  try {
    await writeFileAtomic(file, content, { mode });
  } catch (e: unknown) {
    throw new ConfigError(`cannot write ${file}: ${describeError(e)}`, { cause: e });
  }
}

function isErrnoException(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && "code" in e;
}
