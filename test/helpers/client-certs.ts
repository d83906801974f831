import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** PEM text: a CA, and a client (clientAuth) certificate it signed with its PKCS#8 key. */
export interface ClientCertificates {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A throwaway CA and a client certificate for `commonName`, as the API server's webhook client
 * certificate would be (extended key usage clientAuth). Made in-process, so tests stay hermetic.
 */
export async function makeClientCertificates(
  commonName = "kube-apiserver-webhook-client",
): Promise<ClientCertificates> {
  const crypto = webcrypto;
  const notBefore = new Date(Date.now() - 5 * 60 * 1000);
  const notAfter = new Date(Date.now() + 2 * DAY_MS);
  const caKeys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=${commonName} CA`,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      ],
    },
    crypto,
  );
  const leafKeys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${commonName}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      ],
    },
    crypto,
  );
  const key = KeyObject.from(leafKeys.privateKey).export({ type: "pkcs8", format: "pem" });
  return {
    caCert: `${ca.toString("pem")}\n`,
    cert: `${leaf.toString("pem")}\n`,
    key: typeof key === "string" ? key : key.toString("utf8"),
  };
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}
