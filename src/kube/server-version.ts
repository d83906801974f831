/** The cluster's Kubernetes version, from the API server's `GET /version`. */
import { LookupError } from "../errors.js";
import { isJsonMap, readString } from "../policy/raw-object.js";
import type { KubeVersion } from "../policy/types.js";
import { describeApiFailure } from "./api-objects.js";
import { createKubeTransport, type KubeConfig } from "./client.js";

export const DEFAULT_VERSION_TIMEOUT_MS = 5_000;

/** Throws LookupError when the server cannot be read in time or answers something else. */
export async function fetchKubeVersion(
  kubeConfig: KubeConfig,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<KubeVersion> {
  const transport = createKubeTransport(kubeConfig);
  const { status, body } = await transport.getJson(
    "/version",
    {},
    { timeoutMs: options.timeoutMs ?? DEFAULT_VERSION_TIMEOUT_MS, signal: options.signal },
  );
  if (status !== 200) {
    throw new LookupError(
      `cannot read the Kubernetes version from ${transport.server}/version: ${describeApiFailure(status, body)}`,
    );
  }
  const version = parseVersionInfo(body);
  if (!version) {
    throw new LookupError(
      `${transport.server}/version answered no Kubernetes version: ${JSON.stringify(body)}`,
    );
  }
  return version;
}

/**
 * `{major: "1", minor: "29+", gitVersion: "v1.29.3-eks-..."}` → 1.29. Managed clusters append
 * `+` to minor, and some distributions leave major/minor empty, so gitVersion is the fallback.
 */
export function parseVersionInfo(body: unknown): KubeVersion | null {
  if (!isJsonMap(body)) return null;
  const major = /^(\d+)\+?$/.exec(readString(body, "major") ?? "");
  const minor = /^(\d+)\+?$/.exec(readString(body, "minor") ?? "");
  if (major && minor) return { major: Number(major[1]), minor: Number(minor[1]) };
  const git = /^v?(\d+)\.(\d+)(?:\.|$|[-+])/.exec(readString(body, "gitVersion") ?? "");
  if (git) return { major: Number(git[1]), minor: Number(git[2]) };
  return null;
}
