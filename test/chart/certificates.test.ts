import { X509Certificate, createPrivateKey } from "node:crypto";
import {
  MutatingWebhookConfiguration,
  ValidatingWebhookConfiguration,
} from "kubernetes-models/admissionregistration.k8s.io/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Pod, Secret } from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import {
  FULLNAME,
  NAMESPACE,
  findByKind,
  findObject,
  findObjects,
  renderChart,
  tryRenderChart,
  type Manifest,
  type Values,
} from "./helm.js";

const SERVICE_HOST = `${FULLNAME}.${NAMESPACE}.svc`;
const DAY_MS = 24 * 60 * 60 * 1000;

interface CertificateSpec {
  readonly secretName: string;
  readonly isCA?: boolean;
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly duration?: string;
  readonly renewBefore?: string;
  readonly usages?: readonly string[];
  readonly privateKey?: { readonly rotationPolicy?: string; readonly algorithm?: string };
  readonly issuerRef: { readonly name: string; readonly kind: string; readonly group: string };
}

function certificateNamed(objects: readonly Manifest[], name: string): CertificateSpec {
  const found = findByKind(objects, "Certificate").find((c) => c.metadata.name === name);
  if (!found) throw new Error(`no Certificate ${name}`);
  expect(found.apiVersion).toBe("cert-manager.io/v1");
  return found["spec"] as CertificateSpec;
}

function webhookConfigs(objects: readonly Manifest[]) {
  return [
    findObject(objects, MutatingWebhookConfiguration.is),
    findObject(objects, ValidatingWebhookConfiguration.is),
  ];
}

function caBundles(objects: readonly Manifest[]): (string | undefined)[] {
  return webhookConfigs(objects).map((config) => config.webhooks?.[0]?.clientConfig.caBundle);
}

function tlsVolumeSecret(objects: readonly Manifest[]): string | undefined {
  const pod = findObject(objects, Deployment.is).spec?.template.spec;
  const container = pod?.containers[0];
  const mount = container?.volumeMounts?.find((m) => m.mountPath === "/tls");
  expect(mount?.readOnly).toBe(true);
  expect(mount).not.toHaveProperty("subPath");
  return pod?.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName;
}

function decodeBase64(value: string | undefined): string {
  if (value === undefined) throw new Error("missing base64 value");
  return Buffer.from(value, "base64").toString("utf8");
}

/** One helm-mode render for the whole file: generating RSA keys is the slow part of a render. */
let helmMode: readonly Manifest[];
beforeAll(() => {
  helmMode = renderChart({ values: { certificates: { mode: "helm" } } });
});

describe("certificates.mode=certManager (default)", () => {
  let objects: readonly Manifest[];
  beforeAll(() => {
    objects = renderChart();
  });

  it("bootstraps a CA from a self-signed Issuer and signs with a CA Issuer", () => {
    const issuers = findByKind(objects, "Issuer");
    expect(issuers.map((i) => [i.metadata.name, i["spec"]])).toEqual(
      expect.arrayContaining([
        [`${FULLNAME}-selfsigned`, { selfSigned: {} }],
        [`${FULLNAME}-ca`, { ca: { secretName: `${FULLNAME}-ca` } }],
      ]),
    );
    const ca = certificateNamed(objects, `${FULLNAME}-ca`);
    expect(ca.isCA).toBe(true);
    expect(ca.secretName).toBe(`${FULLNAME}-ca`);
    expect(ca.issuerRef).toEqual({
      group: "cert-manager.io",
      kind: "Issuer",
      name: `${FULLNAME}-selfsigned`,
    });
  });

  it("issues the serving certificate for <svc>.<ns>.svc with a fresh key on every renewal", () => {
    const serving = certificateNamed(objects, `${FULLNAME}-serving`);
    expect(serving.dnsNames).toContain(SERVICE_HOST);
    expect(serving.usages).toContain("server auth");
    expect(serving.privateKey?.rotationPolicy).toBe("Always");
    expect(serving.duration).toBe("2160h");
    expect(serving.renewBefore).toBe("720h");
    expect(serving.issuerRef).toEqual({
      group: "cert-manager.io",
      kind: "Issuer",
      name: `${FULLNAME}-ca`,
    });
  });

  it("mounts the Secret the serving Certificate writes", () => {
    const serving = certificateNamed(objects, `${FULLNAME}-serving`);
    expect(tlsVolumeSecret(objects)).toBe(serving.secretName);
  });

  it("asks the cainjector to fill caBundle on both webhook configurations", () => {
    for (const config of webhookConfigs(objects)) {
      expect(config.metadata?.annotations).toEqual({
        "cert-manager.io/inject-ca-from": `${NAMESPACE}/${FULLNAME}-serving`,
      });
    }
    expect(caBundles(objects)).toEqual([undefined, undefined]);
  });

  it("renders no Secret of its own", () => {
    expect(findObjects(objects, Secret.is)).toEqual([]);
  });
});

describe("certificates.mode=helm", () => {
  let objects: readonly Manifest[];
  let data: Readonly<Record<string, string>>;
  let ca: X509Certificate;
  let serving: X509Certificate;
  beforeAll(() => {
    objects = helmMode;
    const secret = findObject(objects, Secret.is);
    expect(secret.type).toBe("kubernetes.io/tls");
    expect(secret.metadata?.name).toBe(`${FULLNAME}-tls`);
    data = secret.data ?? {};
    ca = new X509Certificate(decodeBase64(data["ca.crt"]));
    serving = new X509Certificate(decodeBase64(data["tls.crt"]));
  });

  it("stores a CA, a certificate and its key in a kubernetes.io/tls Secret", () => {
    expect(Object.keys(data).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
    expect(ca.ca).toBe(true);
    expect(serving.ca).toBe(false);
    expect(serving.checkPrivateKey(createPrivateKey(decodeBase64(data["tls.key"])))).toBe(true);
  });

  it("puts the same CA in both webhook configurations' caBundle", () => {
    expect(caBundles(objects)).toEqual([data["ca.crt"], data["ca.crt"]]);
  });

  it("signs the serving certificate with that CA", () => {
    const bundle = new X509Certificate(decodeBase64(caBundles(objects)[0]));
    expect(serving.checkIssued(bundle)).toBe(true);
    expect(serving.verify(bundle.publicKey)).toBe(true);
  });

  it("makes the serving certificate valid for the name the API server dials", () => {
    expect(serving.checkHost(SERVICE_HOST)).toBe(SERVICE_HOST);
    expect(serving.checkHost("other.example.com")).toBeUndefined();
  });

  it("makes the certificate last certificates.helm.validityDays", () => {
    const days = (Date.parse(serving.validTo) - Date.parse(serving.validFrom)) / DAY_MS;
    expect(Math.round(days)).toBe(3650);
  });

  it("mounts that Secret and needs no cert-manager object or annotation", () => {
    expect(tlsVolumeSecret(objects)).toBe(`${FULLNAME}-tls`);
    expect(objects.filter((o) => o.apiVersion.startsWith("cert-manager.io/"))).toEqual([]);
    for (const config of webhookConfigs(objects)) {
      expect(config.metadata?.annotations).toBeUndefined();
    }
  });

  it("lets the helm test Pod trust the CA from the Secret", () => {
    const pod = findObject(objects, Pod.is);
    expect(pod.spec?.volumes?.find((v) => v.name === "ca")?.secret).toEqual({
      secretName: `${FULLNAME}-tls`,
      items: [{ key: "ca.crt", path: "ca.crt" }],
    });
  });
});

// certificates.mode=helm on upgrade (the stored Secret reused through Helm's lookup, a new set
// when it is missing or lacks ca.crt) is proven against a real API server in
// test/e2e/webhook-certificates.e2e.test.ts.

describe("certificates.mode=existingSecret", () => {
  let caPem: string;
  beforeAll(() => {
    // Any real CA will do; the helm mode makes one.
    caPem = decodeBase64(findObject(helmMode, Secret.is).data?.["ca.crt"]);
  });

  function existingSecretValues(caBundle: string): Values {
    return {
      certificates: { mode: "existingSecret", existingSecret: { name: "my-tls", caBundle } },
    };
  }

  it.each([
    { name: "accepts caBundle as PEM", encode: (pem: string) => pem },
    {
      name: "accepts caBundle already base64-encoded",
      encode: (pem: string) => Buffer.from(pem).toString("base64"),
    },
  ])("$name and sets it base64-encoded on both webhooks", ({ encode }) => {
    const objects = renderChart({ values: existingSecretValues(encode(caPem)) });
    const expected = Buffer.from(`${caPem.trim()}\n`).toString("base64");
    expect(caBundles(objects)).toEqual([expected, expected]);
  });

  it("mounts the named Secret and creates no certificate objects", () => {
    const objects = renderChart({ values: existingSecretValues(caPem) });
    expect(tlsVolumeSecret(objects)).toBe("my-tls");
    expect(findObjects(objects, Secret.is)).toEqual([]);
    expect(objects.filter((o) => o.apiVersion.startsWith("cert-manager.io/"))).toEqual([]);
  });

  it("hands the CA to the helm test Pod, since the user's Secret may lack ca.crt", () => {
    const objects = renderChart({ values: existingSecretValues(caPem) });
    const container = findObject(objects, Pod.is).spec?.containers[0];
    expect(container?.env).toEqual([{ name: "CA_PEM", value: `${caPem.trim()}\n` }]);
  });
});

describe("contradictory or incomplete certificate values", () => {
  it.each([
    {
      name: "existingSecret without caBundle",
      values: { certificates: { mode: "existingSecret", existingSecret: { name: "my-tls" } } },
      message:
        "certificates.existingSecret.caBundle is required when certificates.mode is existingSecret",
    },
    {
      name: "existingSecret without a Secret name",
      values: { certificates: { mode: "existingSecret", existingSecret: { caBundle: "x" } } },
      message:
        "certificates.existingSecret.name is required when certificates.mode is existingSecret",
    },
    {
      name: "existingSecret with a caBundle that is no certificate",
      values: {
        certificates: {
          mode: "existingSecret",
          existingSecret: { name: "my-tls", caBundle: "bm90IGEgY2VydGlmaWNhdGU=" },
        },
      },
      message: "certificates.existingSecret.caBundle must be a PEM CA certificate",
    },
    {
      name: "existingSecret settings while cert-manager is the mode",
      values: { certificates: { existingSecret: { name: "my-tls" } } },
      message: "the certificate modes are mutually exclusive",
    },
    {
      name: "existingSecret settings while helm is the mode",
      values: { certificates: { mode: "helm", existingSecret: { caBundle: "x" } } },
      message: "certificates.existingSecret is set but certificates.mode is helm",
    },
    {
      name: "two modes at once",
      values: { certificates: { mode: "certManager,helm" } },
      message: "certificates.mode must be one of the following",
    },
    {
      name: "a mode as a list",
      values: { certificates: { mode: ["certManager", "helm"] } },
      message: "certificates.mode",
    },
  ])("refuses $name", ({ values, message }) => {
    const result = tryRenderChart({ values });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(message);
  });
});
