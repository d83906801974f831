import { X509Certificate, createPrivateKey } from "node:crypto";
import { describeError } from "../errors.js";

export interface CertificateRequirements {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly now: Date;
  /** Both certificates must stay valid at least this long after `now`. */
  readonly minRemainingMs: number;
}

/**
 * Says why a CA + serving certificate + key cannot be used for `requirements`, or null when
 * they can. Never throws: unparsable input is a problem like any other.
 */
export function findCertificateProblem(
  pem: { readonly caCert: string; readonly cert: string; readonly key: string },
  requirements: CertificateRequirements,
): string | null {
  let ca: X509Certificate;
  let leaf: X509Certificate;
  try {
    ca = new X509Certificate(pem.caCert);
    leaf = new X509Certificate(pem.cert);
  } catch (e: unknown) {
    return `a certificate does not parse (${describeError(e)})`;
  }
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
    return "the serving certificate was not signed by the CA";
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(pem.key))) {
      return "the key does not match the serving certificate";
    }
  } catch (e: unknown) {
    return `the key does not parse (${describeError(e)})`;
  }
  const missing = [
    ...requirements.dnsNames.filter(
      (name) => leaf.checkHost(name, { subject: "never" }) === undefined,
    ),
    ...requirements.ipAddresses.filter((ip) => leaf.checkIP(ip) === undefined),
  ];
  if (missing.length > 0) {
    return `the serving certificate does not cover ${missing.join(", ")}`;
  }
  return findValidityProblem([ca, leaf], requirements);
}

function findValidityProblem(
  certificates: readonly X509Certificate[],
  requirements: CertificateRequirements,
): string | null {
  const now = requirements.now.getTime();
  for (const certificate of certificates) {
    const name = certificate.ca ? "the CA" : "the serving certificate";
    if (Date.parse(certificate.validFrom) > now) {
      return `${name} is not valid before ${certificate.validFrom}`;
    }
    if (Date.parse(certificate.validTo) - now < requirements.minRemainingMs) {
      return `${name} expires ${certificate.validTo}`;
    }
  }
  return null;
}
