import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";

describe("controller: limits in the configuration", () => {
  it("reads every key", () => {
    const config = parseConfig(
      [
        "controller:",
        '  namespaces: [streaming, "team-*"]',
        "  namespaceSelector: {matchLabels: {exposure: allowed}}",
        "  serviceTypes: [NodePort]",
        '  serviceAnnotations: ["service.beta.kubernetes.io/aws-load-balancer-type"]',
        "  maxServicesPerStatefulSet: 8",
      ].join("\n"),
      "stsguard.yaml",
    );
    expect(config.controller).toEqual({
      namespaces: ["streaming", "team-*"],
      namespaceSelector: { matchLabels: { exposure: "allowed" }, matchExpressions: [] },
      serviceTypes: ["NodePort"],
      serviceAnnotations: ["service.beta.kubernetes.io/aws-load-balancer-type"],
      maxServicesPerStatefulSet: 8,
    });
  });

  it.each([
    [
      "controller:\n  maxServicesPerStatefulSet: 0\n",
      "stsguard.yaml: controller.maxServicesPerStatefulSet: must be a whole number from 1 to 10000, not 0",
    ],
    [
      "controller:\n  maxServicesPerStatefulSet: 1000000\n",
      "stsguard.yaml: controller.maxServicesPerStatefulSet: must be a whole number from 1 to 10000, not 1000000",
    ],
    [
      "controller:\n  serviceTypes: [ClusterIP]\n",
      'stsguard.yaml: controller.serviceTypes: "ClusterIP" is not a type the controller makes (LoadBalancer, NodePort)',
    ],
    [
      "controller:\n  serviceAnnotations: []\n",
      "stsguard.yaml: controller.serviceAnnotations: an empty list matches nothing; leave the key out instead",
    ],
    ["controller:\n  maxServices: 3\n", "stsguard.yaml: controller: maxServices: unknown setting"],
  ])("refuses %j", (text, message) => {
    expect(() => parseConfig(text, "stsguard.yaml")).toThrow(message);
  });
});
