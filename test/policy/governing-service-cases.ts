/**
 * One table of `governing-service` cases, run through the engine, `stsguard check` and the
 * admission webhook, so the three front-ends cannot drift apart.
 */
import { aStatefulSet } from "../helpers/objects.js";

export interface GoverningServiceCase {
  readonly name: string;
  /** The StatefulSet `web` in `demo`, pods labelled `app: web`. */
  readonly statefulSet: Record<string, unknown>;
  /** The Service named by `serviceName`, wherever it is; null: none at all. */
  readonly service: Record<string, unknown> | null;
  /** A part of the finding's message; null: no finding. */
  readonly expected: string | null;
}

function headlessService(
  overrides: { namespace?: string; clusterIP?: string | null; selector?: unknown } = {},
): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    selector: overrides.selector ?? { app: "web" },
    ports: [{ port: 80 }],
  };
  if (overrides.clusterIP !== null) spec["clusterIP"] = overrides.clusterIP ?? "None";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: overrides.namespace ?? "demo" },
    spec,
  };
}

function withoutServiceName(): Record<string, unknown> {
  const sts = aStatefulSet();
  delete (sts["spec"] as Record<string, unknown>)["serviceName"];
  return sts;
}

export const GOVERNING_SERVICE_CASES: readonly GoverningServiceCase[] = [
  {
    name: "a headless Service selecting the pods",
    statefulSet: aStatefulSet(),
    service: headlessService(),
    expected: null,
  },
  {
    name: "missing Service",
    statefulSet: aStatefulSet(),
    service: null,
    expected: "which does not exist in namespace demo",
  },
  {
    name: "not headless",
    statefulSet: aStatefulSet(),
    service: headlessService({ clusterIP: null }),
    expected: "which is not headless",
  },
  {
    name: "selector mismatch",
    statefulSet: aStatefulSet(),
    service: headlessService({ selector: { app: "other" } }),
    expected: "whose selector app=other does not match the pod template's labels",
  },
  {
    name: "Service in another namespace",
    statefulSet: aStatefulSet(),
    service: headlessService({ namespace: "other" }),
    expected: "which does not exist in namespace demo",
  },
  {
    name: "serviceName empty",
    statefulSet: withoutServiceName(),
    service: headlessService(),
    expected: "has no spec.serviceName",
  },
];
