import { describe, expect, it } from "vitest";
import { readExposeDecision, type ExposeDecision } from "../../src/controller/expose.js";

function withAnnotations(annotations: Record<string, unknown> | null): unknown {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "kafka", namespace: "streaming", annotations },
  };
}

const cases: {
  name: string;
  annotations: Record<string, unknown> | null;
  prefix?: string;
  want: ExposeDecision;
}[] = [
  { name: "no annotations", annotations: null, want: { kind: "off" } },
  {
    name: "other annotations only",
    annotations: { "example.com/expose": "LoadBalancer" },
    want: { kind: "off" },
  },
  {
    name: "LoadBalancer, every port",
    annotations: { "stsguard.io/expose": "LoadBalancer" },
    want: { kind: "on", request: { type: "LoadBalancer", ports: [], serviceAnnotations: {} } },
  },
  {
    name: "NodePort with ports by name and number, spaces around",
    annotations: { "stsguard.io/expose": " NodePort ", "stsguard.io/expose-ports": "kafka, 9404" },
    want: {
      kind: "on",
      request: { type: "NodePort", ports: ["kafka", "9404"], serviceAnnotations: {} },
    },
  },
  {
    name: "a configured prefix",
    prefix: "example.com",
    annotations: { "example.com/expose": "NodePort", "stsguard.io/expose": "bogus" },
    want: { kind: "on", request: { type: "NodePort", ports: [], serviceAnnotations: {} } },
  },
  {
    name: "Service annotations as YAML",
    annotations: {
      "stsguard.io/expose": "LoadBalancer",
      "stsguard.io/expose-service-annotations":
        "service.beta.kubernetes.io/aws-load-balancer-type: nlb\nexample.com/tier: '1'\n",
    },
    want: {
      kind: "on",
      request: {
        type: "LoadBalancer",
        ports: [],
        serviceAnnotations: {
          "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
          "example.com/tier": "1",
        },
      },
    },
  },
  {
    name: "Service annotations as JSON",
    annotations: {
      "stsguard.io/expose": "LoadBalancer",
      "stsguard.io/expose-service-annotations": '{"cloud.google.com/l4-rbs": "enabled"}',
    },
    want: {
      kind: "on",
      request: {
        type: "LoadBalancer",
        ports: [],
        serviceAnnotations: { "cloud.google.com/l4-rbs": "enabled" },
      },
    },
  },
  {
    name: "a Service type the controller does not write",
    annotations: { "stsguard.io/expose": "ClusterIP" },
    want: {
      kind: "invalid",
      problems: [
        'annotation stsguard.io/expose: "ClusterIP" is not a Service type the controller writes (LoadBalancer or NodePort)',
      ],
    },
  },
  {
    name: "bad ports, every one named",
    annotations: {
      "stsguard.io/expose": "LoadBalancer",
      "stsguard.io/expose-ports": "kafka,70000,Bad_Name",
    },
    want: {
      kind: "invalid",
      problems: [
        'annotation stsguard.io/expose-ports: "70000" is not a port name or number (write e.g. "kafka,9092")',
        'annotation stsguard.io/expose-ports: "Bad_Name" is not a port name or number (write e.g. "kafka,9092")',
      ],
    },
  },
  {
    name: "Service annotations that do not parse",
    annotations: {
      "stsguard.io/expose": "LoadBalancer",
      "stsguard.io/expose-service-annotations": "a: [",
    },
    want: {
      kind: "invalid",
      problems: [
        expect.stringMatching(
          /^annotation stsguard.io\/expose-service-annotations: not JSON or YAML: /,
        ),
      ],
    },
  },
  {
    name: "Service annotations with a number and a bad key",
    annotations: {
      "stsguard.io/expose": "LoadBalancer",
      "stsguard.io/expose-service-annotations": "example.com/weight: 3\n'bad key!': x\n",
    },
    want: {
      kind: "invalid",
      problems: [
        'annotation stsguard.io/expose-service-annotations: the value of "example.com/weight" must be a string (quote it: "3")',
        'annotation stsguard.io/expose-service-annotations: "bad key!" is not a valid annotation key',
      ],
    },
  },
  {
    name: "Service annotations that are a list",
    annotations: {
      "stsguard.io/expose": "LoadBalancer",
      "stsguard.io/expose-service-annotations": "- a\n- b\n",
    },
    want: {
      kind: "invalid",
      problems: [
        "annotation stsguard.io/expose-service-annotations: must be a map of annotation keys to strings",
      ],
    },
  },
];

describe("readExposeDecision", () => {
  it.each(cases)("$name", ({ annotations, prefix, want }) => {
    expect(readExposeDecision(withAnnotations(annotations), prefix ?? "stsguard.io")).toEqual(want);
  });
});
