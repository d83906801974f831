import { resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { UsageError } from "../../errors.js";
import {
  LOCAL_DEV_DNS_NAMES,
  LOCAL_DEV_IP_ADDRESSES,
  isDnsName,
  isIpAddress,
  listServiceDnsNames,
} from "../../certs/names.js";
import { EXIT_OK, type CliIo, type SetExitCode } from "../io.js";
import { helpFor } from "../program-name.js";

interface CertsOptions {
  readonly dns?: string[];
  readonly ip?: string[];
  readonly service?: string;
  readonly namespace?: string;
  readonly clusterDomain: string;
  readonly out: string;
  readonly days: number;
  readonly force?: boolean;
}

const HELP_AFTER = `
Names:
  With neither --dns nor --ip the certificate is for localhost and 127.0.0.1, which is what
  a local "stsguard serve" is reached by. --service and --namespace add the names the API
  server uses for an in-cluster webhook: <svc>, <svc>.<ns>, <svc>.<ns>.svc and
  <svc>.<ns>.svc.<cluster-domain>.

Files (in --out):
  ca.crt   the development CA; its base64 is the webhook's clientConfig.caBundle
  tls.crt  the serving certificate, signed by ca.crt  (stsguard serve --tls-cert)
  tls.key  its private key, mode 0600                  (stsguard serve --tls-key)
  Existing files are reused while they cover the names and stay valid for 7 more days,
  so the caBundle you installed keeps working; --force makes new ones.
  Private keys are git-ignored: never commit them. In a cluster the Helm chart makes
  its own certificates (cert-manager by default); see certs/README.md.

Examples:
  stsguard certs
  stsguard certs --service stsguard --namespace stsguard-system --out certs/cluster
  stsguard certs --dns webhook.example.test --ip 10.0.0.5 --days 30
`;

/** `stsguard certs`: a development CA, a serving certificate signed by it, and the caBundle. */
export function certsCommand(io: CliIo, setExitCode: SetExitCode): Command {
  return new Command("certs")
    .description("Make a development CA and serving certificate, and print the caBundle.")
    .option("--dns <name...>", "DNS name for the certificate (repeatable)", collectDnsName)
    .option("--ip <address...>", "IP address for the certificate (repeatable)", collectIpAddress)
    .option("--service <name>", "webhook Service name (needs --namespace)", parseDnsLabel)
    .option("-n, --namespace <namespace>", "namespace of the webhook Service", parseDnsLabel)
    .option("--cluster-domain <domain>", "cluster DNS domain", parseDnsName, "cluster.local")
    .option("--out <dir>", "directory to write ca.crt, tls.crt and tls.key to", "certs")
    .option("--days <days>", "validity in days", parseDays, 365)
    .option("--force", "make new certificates even if the existing ones are still valid")
    .addHelpText("after", ({ command }) => helpFor(HELP_AFTER, command))
    .action(async (options: CertsOptions) => {
      await runCerts(io, options);
      setExitCode(EXIT_OK);
    });
}

// --- internal ---

async function runCerts(io: CliIo, options: CertsOptions): Promise<void> {
  const { dnsNames, ipAddresses } = selectNames(options);
  const dir = resolve(io.cwd, options.out);
  const request = { dnsNames, ipAddresses, validDays: options.days };
  // Loaded only here: @peculiar/x509 costs every other command (check, fix, serve) ~5 MiB RSS.
  const { ensureDevCertificates, writeDevCertificates } = await import("../../certs/generate.js");
  const result =
    options.force === true
      ? { ...(await writeDevCertificates(dir, request)), outcome: "generated", reason: "--force" }
      : await ensureDevCertificates(dir, request);
  const verb = result.outcome === "reused" ? "Reusing" : "Wrote";
  io.stdout.write(
    [
      `${verb} development certificates (${result.reason})`,
      `  names:       ${[...dnsNames, ...ipAddresses].join(", ")}`,
      `  valid until: ${result.notAfter.toISOString()}`,
      `  CA:          ${result.caCertFile}`,
      `  certificate: ${result.certFile}`,
      `  key:         ${result.keyFile}  (secret; git-ignored, never commit it)`,
      "",
      "Webhook configuration clientConfig:",
      `caBundle: ${result.caBundle}`,
      "",
    ].join("\n"),
  );
}

function selectNames(options: CertsOptions): { dnsNames: string[]; ipAddresses: string[] } {
  if ((options.service === undefined) !== (options.namespace === undefined)) {
    throw new UsageError("--service and --namespace go together: give both or neither");
  }
  const explicit = options.dns !== undefined || options.ip !== undefined;
  const dnsNames = explicit ? [...(options.dns ?? [])] : [...LOCAL_DEV_DNS_NAMES];
  const ipAddresses = explicit ? [...(options.ip ?? [])] : [...LOCAL_DEV_IP_ADDRESSES];
  if (options.service !== undefined && options.namespace !== undefined) {
    dnsNames.push(
      ...listServiceDnsNames(options.service, options.namespace, options.clusterDomain),
    );
  }
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)] };
}

function collectDnsName(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), parseDnsName(value)];
}

function parseDnsName(value: string): string {
  const name = value.toLowerCase();
  if (!isDnsName(name)) {
    throw new InvalidArgumentError(`"${value}" is not a valid DNS name.`);
  }
  return name;
}

function collectIpAddress(value: string, previous: string[] | undefined): string[] {
  if (!isIpAddress(value)) {
    throw new InvalidArgumentError(`"${value}" is not a valid IP address.`);
  }
  return [...(previous ?? []), value];
}

function parseDnsLabel(value: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) {
    throw new InvalidArgumentError(`"${value}" is not a valid Kubernetes name (RFC 1123 label).`);
  }
  return value;
}

function parseDays(value: string): number {
  const days = Number(value);
  if (!/^\d+$/.test(value) || days < 1 || days > 3650) {
    throw new InvalidArgumentError("must be a whole number of days from 1 to 3650.");
  }
  return days;
}
