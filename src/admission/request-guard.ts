/**
 * What the guardrails (src/guardrails) need to know of a request, read once: the namespace's
 * mode and labels, from memory when the namespace source holds them, else through a read.
 */
import type { StsguardConfig } from "../config/config.js";
import { LookupError } from "../errors.js";
import {
  decide,
  namespaceMode,
  usesNamespaceLabels,
  type GuardrailDecision,
  type GuardrailSubject,
  type Mode,
  type NamespaceLabels,
} from "../guardrails/index.js";
import type { NamespaceSource } from "../namespaces/source.js";
import type { Finding } from "../policy/index.js";
import type { AdmitDeps } from "./deps.js";
import type { AdmissionRequest } from "./types.js";

/** What the guardrails need to know of a request, read once. */
export interface Guard {
  readonly mode: Mode;
  readonly namespace: string;
  readonly labels: NamespaceLabels;
  readonly request: AdmissionRequest;
  readonly now: Date;
}

export function toGuard(
  request: AdmissionRequest,
  namespace: string,
  labels: NamespaceLabels,
  deps: AdmitDeps,
): Guard {
  return {
    mode: namespaceMode(namespace, labels, deps.config).mode,
    namespace,
    labels,
    request,
    now: deps.now?.() ?? new Date(),
  };
}

/**
 * The namespace's labels when no read is needed: null when no rule needs them (or no source
 * knows them), undefined when only a read of the namespace source can tell.
 */
export function namespaceLabelsInMemory(
  namespace: string,
  deps: AdmitDeps,
): NamespaceLabels | undefined {
  if (!deps.namespaces || !usesNamespaceLabels(deps.config.guardrails)) return null;
  const cached = deps.namespaces.lookupCached(namespace);
  if (cached === null) return undefined;
  return cached.status === "found" ? cached.namespace.labels : null;
}

/**
 * Unknown (null) when the source cannot tell. Namespace rules that select by label then count
 * as the strictest they could be, and exemptions that need labels do not apply.
 */
export async function readNamespaceLabels(
  namespace: string,
  namespaces: NamespaceSource | undefined,
): Promise<NamespaceLabels> {
  if (!namespaces) return null;
  try {
    const lookup = await namespaces.lookup(namespace);
    return lookup.status === "found" ? lookup.namespace.labels : null;
  } catch (error: unknown) {
    if (error instanceof LookupError) return null;
    throw error;
  }
}

export function decideFor(
  guard: Guard,
  findings: readonly Finding[],
  kind: GuardrailSubject["kind"],
  name: string,
  statefulSet: string | null,
  config: StsguardConfig,
): GuardrailDecision {
  const subject: GuardrailSubject = {
    kind,
    namespace: guard.namespace,
    name,
    statefulSet,
    namespaceLabels: guard.labels,
    user: guard.request.userInfo,
  };
  return decide(findings, subject, config, guard.now);
}
