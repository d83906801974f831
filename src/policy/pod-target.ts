import type { PodTarget } from "./types.js";

// The StatefulSet controller names pods fmt.Sprintf("%s-%d", name, ordinal): the ordinal is a
// canonical decimal (no leading zeros, no sign) and the name a DNS-1123 label, so `web-01`
// or `Web-0` can never name a real pod. The name is everything before the LAST dash, which
// keeps StatefulSets whose names end in digits (`redis-2` → `redis-2-0`) right.
const POD_NAME = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)-(0|[1-9][0-9]*)$/;
const MAX_POD_NAME_LENGTH = 63;
const MAX_ORDINAL = 2 ** 31 - 1;

/** Parses a pod-name selector value as `<statefulset>-<ordinal>`, or null when no pod can have it. */
export function parsePodTarget(value: unknown): PodTarget | null {
  if (typeof value !== "string" || value.length > MAX_POD_NAME_LENGTH) return null;
  const match = POD_NAME.exec(value);
  if (!match?.[1] || match[2] === undefined) return null;
  const ordinal = Number(match[2]);
  if (ordinal > MAX_ORDINAL) return null;
  return { statefulSet: match[1], ordinal };
}

/** The pod name a target stands for. */
export function toPodName(target: PodTarget): string {
  return `${target.statefulSet}-${target.ordinal}`;
}
