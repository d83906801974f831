import { StsguardError } from "../errors.js";
import type { RuleId } from "../policy/types.js";

/** What each rule is for, in the words docs/rules.md uses; shown by SARIF viewers and `--help`. */
export interface RuleDoc {
  readonly id: RuleId;
  /** One line: what is wrong. */
  readonly short: string;
  /** Why it matters. */
  readonly full: string;
  /** How to fix it. */
  readonly help: string;
}

export const RULE_DOCS: readonly RuleDoc[] = [
  {
    id: "malformed-pod-name",
    short: "The pod-name selector does not name a StatefulSet pod",
    full:
      "A per-pod Service selects statefulset.kubernetes.io/pod-name, whose value must read " +
      "<statefulset>-<ordinal> with a plain decimal ordinal (0, 7, 12; never 01). Any other " +
      "value matches no pod, so the Service has no endpoints.",
    help: "Set the selector to the name of an existing pod, e.g. web-0.",
  },
  {
    id: "statefulset-not-found",
    short: "The selected pod's StatefulSet does not exist",
    full:
      "No StatefulSet with the name in the pod-name selector exists in the Service's namespace, " +
      "neither in the checked manifests nor (with --cluster) in the cluster. A warning by default, " +
      "since Helm and GitOps tools may create the Service first.",
    help: "Create the StatefulSet, check the namespace, or fix the selector.",
  },
  {
    id: "ordinal-out-of-range",
    short: "The selected pod's ordinal is outside the StatefulSet's range",
    full:
      "The StatefulSet exists but may have no pod with that ordinal: its pods are numbered from " +
      "spec.ordinals.start (default 0) for spec.replicas (default 1), or, when a " +
      "HorizontalPodAutoscaler scales it, up to its maxReplicas. The Service selects nothing, " +
      "typically after a scale-down.",
    help:
      "Scale the StatefulSet up (or raise its autoscaler's maxReplicas), select an existing " +
      "ordinal, or delete the Service.",
  },
  {
    id: "external-traffic-policy",
    short: "An externally reachable per-pod Service does not use externalTrafficPolicy: Local",
    full:
      "LoadBalancer and NodePort Services (and, from Kubernetes 1.29, ClusterIP Services with " +
      "externalIPs) default to externalTrafficPolicy: Cluster: every node proxies, an extra hop " +
      "is added and the client address is lost. A per-pod Service wants only the pod's node to answer.",
    help: "Set spec.externalTrafficPolicy: Local (stsguard fix does it).",
  },
  {
    id: "missing-labels",
    short: "A required label is missing or wrong",
    full:
      "Every per-pod Service carries <prefix>/statefulset: <sts> and <prefix>/ordinal: " +
      '"<ordinal>" (prefix stsguard.io unless configured), plus the extra labels the ' +
      "configuration names, so its StatefulSet and ordinal can be found and cleaned up.",
    help: "Add or correct the labels under metadata.labels (stsguard fix does it).",
  },
  {
    id: "selector-mismatch",
    short: "Another selector entry disagrees with the pods' labels",
    full:
      "Besides the pod name the Service selects on labels that the StatefulSet's pod template " +
      "does not carry, or carries with another value, so the Service selects nothing.",
    help: "Remove the extra selector entry or make it match spec.template.metadata.labels.",
  },
  {
    id: "orphaned-service",
    short: "A StatefulSet leaves per-pod Services pointing at pods that will not exist",
    full:
      "The ordinals the StatefulSet may have (its replicas, or up to its HorizontalPodAutoscaler's " +
      "maxReplicas) do not include the ordinal that a per-pod Service in the same namespace " +
      "selects, so that Service selects nothing once the StatefulSet is applied.",
    help: "Delete the orphaned Services, or keep enough replicas (or a high enough maxReplicas).",
  },
  {
    id: "removed-api-version",
    short: "A StatefulSet uses an API version Kubernetes no longer serves",
    full:
      "StatefulSets are served only as apps/v1 since Kubernetes 1.16, which removed apps/v1beta1 " +
      "and apps/v1beta2; old charts still carry them, and the API server rejects them. stsguard " +
      "still judges their per-pod Services against them.",
    help:
      "Change apiVersion to apps/v1. apps/v1 requires spec.selector (matchLabels with the pod " +
      "template's labels); from apps/v1beta1 also set spec.updateStrategy.type: OnDelete to keep " +
      "its default. stsguard fix changes apiVersion when nothing else needs to change.",
  },
  {
    id: "governing-service",
    short: "A StatefulSet's governing Service gives its pods no per-pod DNS names",
    full:
      "Cluster DNS publishes <pod>.<serviceName>.<namespace>.svc only when spec.serviceName names " +
      "a headless Service (clusterIP: None) in the StatefulSet's namespace whose selector matches " +
      "the pod template's labels. A warning by default: Helm and kubectl may create the Service " +
      "after the StatefulSet.",
    help: "Create a headless Service named spec.serviceName whose selector matches spec.template.metadata.labels.",
  },
];

export function findRuleDoc(id: RuleId): RuleDoc {
  const doc = RULE_DOCS.find((d) => d.id === id);
  if (!doc) throw new StsguardError("E_INTERNAL", `no documentation for rule ${id}`);
  return doc;
}
