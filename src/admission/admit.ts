/**
 * The admission decision's entry point. Its parts, in the order a request meets them:
 * classify-request.ts (which subject, if any), request-guard.ts (the namespace's mode and
 * labels), then per subject cached-then-live.ts (a per-pod Service: answered from the cache,
 * confirmed by a live read when the cache would deny) or admit-statefulset.ts (a StatefulSet or
 * its scale), and verdict.ts (the AdmissionResult each answer becomes).
 */
import { admitStatefulSet, admitScale } from "./admit-statefulset.js";
import { admitService } from "./cached-then-live.js";
import { classifyRequest, namespaceOf } from "./classify-request.js";
import type { AdmitDeps } from "./deps.js";
import {
  namespaceLabelsInMemory,
  readNamespaceLabels,
  toGuard,
  type Guard,
} from "./request-guard.js";
import type {
  AdmissionMode,
  AdmissionRequest,
  AdmissionResult,
  AdmissionSubject,
} from "./types.js";
import { IGNORED } from "./verdict.js";

export type { AdmitDeps } from "./deps.js";

/**
 * The admission decision for one request, with no HTTP in sight. `/mutate` never denies: it
 * returns the patch to the fixed object. `/validate` denies on errors and warns on warnings.
 * Anything that is not a per-pod Service, a StatefulSet or a StatefulSet scale is allowed as is.
 * The namespace's mode and the exemptions (src/guardrails, the same decision `check` makes)
 * then shape the answer: `warn` never denies, `monitor` allows untouched, `off` skips.
 *
 * A Service whose StatefulSet (and namespace labels, where rules need them) the sources hold in
 * memory is answered synchronously: the common request then costs the webhook no microtask hop.
 * Anything that needs a read returns a promise.
 */
export function admit(
  request: AdmissionRequest,
  mode: AdmissionMode,
  deps: AdmitDeps,
): AdmissionResult | Promise<AdmissionResult> {
  const subject = classifyRequest(request);
  if (mode === "mutate" && subject === "statefulset" && deps.exposeApproval)
    return deps.exposeApproval(request);
  if (subject === "ignored" || (mode === "mutate" && subject !== "service")) return IGNORED;
  const namespace = namespaceOf(request);
  const labels = namespaceLabelsInMemory(namespace, deps);
  if (labels === undefined) {
    return readNamespaceLabels(namespace, deps.namespaces).then((read) =>
      admitSubject(subject, mode, deps, toGuard(request, namespace, read, deps)),
    );
  }
  return admitSubject(subject, mode, deps, toGuard(request, namespace, labels, deps));
}

function admitSubject(
  subject: Exclude<AdmissionSubject, "ignored">,
  mode: AdmissionMode,
  deps: AdmitDeps,
  guard: Guard,
): AdmissionResult | Promise<AdmissionResult> {
  // `off`: allowed untouched, before any StatefulSet lookup.
  if (guard.mode === "off") return { ...IGNORED, subject, guardMode: "off" };
  switch (subject) {
    case "service":
      return admitService(guard.request, mode, deps, guard);
    case "statefulset":
      return admitStatefulSet(guard.request, deps, guard);
    case "scale":
      return admitScale(guard.request, deps, guard);
  }
}
