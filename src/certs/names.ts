import { isIP } from "node:net";

/** What a local `stsguard serve` is reached by: https://localhost:8443 and https://127.0.0.1:8443. */
export const LOCAL_DEV_DNS_NAMES: readonly string[] = ["localhost"];
export const LOCAL_DEV_IP_ADDRESSES: readonly string[] = ["127.0.0.1"];

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The names the API server may use for a webhook Service. It dials `<svc>.<ns>.svc`; the
 * shorter and longer forms cover port-forwards, in-cluster clients and custom resolvers.
 */
export function listServiceDnsNames(
  service: string,
  namespace: string,
  clusterDomain = "cluster.local",
): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

/** RFC 1123 host name (lower case), optionally with one leading `*.` wildcard label. */
export function isDnsName(value: string): boolean {
  if (value.length === 0 || value.length > 253) {
    return false;
  }
  const labels = value.startsWith("*.") ? value.slice(2).split(".") : value.split(".");
  return labels.every((label) => DNS_LABEL.test(label));
}

export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}
