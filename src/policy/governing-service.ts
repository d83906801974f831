import { hasOwn } from "./raw-object.js";
import type { Finding, PolicyConfig, ServiceLookup, StatefulSetSummary } from "./types.js";

/**
 * `governing-service`: cluster DNS publishes `<pod>.<serviceName>.<namespace>.svc` only when
 * `spec.serviceName` names a headless Service in the StatefulSet's own namespace whose selector
 * selects the pods. An `unresolved` or `unavailable` lookup gives no finding: the front-end says
 * that it could not tell, which is not the same as "missing".
 */
export function evaluateGoverningService(
  sts: StatefulSetSummary,
  lookup: ServiceLookup,
  config: PolicyConfig,
): Finding[] {
  const severity = config.severities["governing-service"];
  if (severity === "off") return [];
  const message = governingServiceProblem(sts, lookup);
  if (message === null) return [];
  return [
    {
      rule: "governing-service",
      severity,
      message,
      fixable: false,
      path: sts.serviceName === "" ? ["spec"] : ["spec", "serviceName"],
    },
  ];
}

/** Whether `evaluateGoverningService` has to look a Service up at all. */
export function needsGoverningService(sts: StatefulSetSummary, config: PolicyConfig): boolean {
  return config.severities["governing-service"] !== "off" && sts.serviceName !== "";
}

function governingServiceProblem(sts: StatefulSetSummary, lookup: ServiceLookup): string | null {
  const what = `StatefulSet ${sts.namespace}/${sts.name}`;
  if (sts.serviceName === "") {
    return (
      `${what} has no spec.serviceName, so its pods get no per-pod DNS names; ` +
      `set it to a headless Service (clusterIP: None) that selects the pods`
    );
  }
  const service = `Service ${sts.serviceName}`;
  switch (lookup.status) {
    case "unresolved":
    case "unavailable":
      return null;
    case "not-found": {
      const elsewhere = (lookup.elsewhere ?? []).filter((ns) => ns !== sts.namespace);
      const hint =
        elsewhere.length > 0
          ? ` (a Service of that name exists in namespace ${elsewhere.join(", ")}, but it must be in the StatefulSet's own)`
          : "";
      return (
        `${what} names governing ${service}, which does not exist in namespace ` +
        `${sts.namespace}${hint}, so its pods get no per-pod DNS names; create a headless ` +
        `Service ${sts.serviceName} (clusterIP: None) that selects the pods`
      );
    }
    case "found":
      break;
  }
  const found = lookup.service;
  if (!found.headless) {
    return (
      `${what} names governing ${service}, which is not headless, so its pods get no ` +
      `per-pod DNS names; use a Service with clusterIP: None (clusterIP cannot be changed: recreate it)`
    );
  }
  const entries = Object.entries(found.selector);
  if (entries.length === 0) {
    return (
      `${what} names governing ${service}, which has no selector, so no pod is among its ` +
      `endpoints and none gets a per-pod DNS name; give it a selector that matches the pod template's labels`
    );
  }
  const wrong = entries.filter(
    ([key, value]) => !hasOwn(sts.podLabels, key) || sts.podLabels[key] !== value,
  );
  if (wrong.length === 0) return null;
  const selector = wrong.map(([key, value]) => `${key}=${value}`).join(", ");
  return (
    `${what} names governing ${service}, whose selector ${selector} does not match the pod ` +
    `template's labels, so its pods get no per-pod DNS names; make the selector match spec.template.metadata.labels`
  );
}
