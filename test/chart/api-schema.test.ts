import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  MutatingWebhookConfiguration,
  ValidatingWebhookConfiguration,
} from "kubernetes-models/admissionregistration.k8s.io/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import {
  ClusterRole,
  ClusterRoleBinding,
  type IClusterRoleBinding,
} from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { CHART_DIR, NAMESPACE, tryRenderChart, type Manifest, type Values } from "./helm.js";

/** Something kubernetes-models can check against the Kubernetes OpenAPI schema. */
interface Validatable {
  validate(): void;
}

/** Built-in kinds, validated against the Kubernetes API schema kubernetes-models ships. */
const API_MODELS: Readonly<Record<string, (object: Manifest) => Validatable>> = {
  "v1/ConfigMap": (o) => new ConfigMap(o),
  "v1/Pod": (o) => new Pod(o),
  "v1/Secret": (o) => new Secret(o),
  "v1/Service": (o) => new Service(o),
  "v1/ServiceAccount": (o) => new ServiceAccount(o),
  "apps/v1/Deployment": (o) => new Deployment(o),
  "policy/v1/PodDisruptionBudget": (o) => new PodDisruptionBudget(o),
  "networking.k8s.io/v1/NetworkPolicy": (o) => new NetworkPolicy(o),
  "rbac.authorization.k8s.io/v1/ClusterRole": (o) => new ClusterRole(o),
  // The only model whose constructor type requires a field (roleRef); validate() checks it.
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": (o) =>
    new ClusterRoleBinding(o as unknown as IClusterRoleBinding),
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": (o) =>
    new MutatingWebhookConfiguration(o),
  "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": (o) =>
    new ValidatingWebhookConfiguration(o),
};

/** CRD kinds kubernetes-models does not know: checked for their basic shape only. */
const CUSTOM_KINDS = [
  "cert-manager.io/v1/Certificate",
  "cert-manager.io/v1/Issuer",
  "monitoring.coreos.com/v1/ServiceMonitor",
];

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const VARIANTS: readonly { name: string; values: Values }[] = [
  { name: "defaults (cert-manager)", values: {} },
  { name: "helm certificates", values: { certificates: { mode: "helm" } } },
  {
    name: "an existing Secret",
    values: {
      certificates: {
        mode: "existingSecret",
        existingSecret: {
          name: "my-tls",
          caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        },
      },
    },
  },
  {
    name: "every optional part switched on",
    values: {
      serviceMonitor: { enabled: true, labels: { release: "prometheus" } },
      priorityClassName: "system-cluster-critical",
      podDisruptionBudget: { minAvailable: 1, maxUnavailable: null },
      networkPolicy: {
        webhookFrom: [{ ipBlock: { cidr: "10.0.0.0/8" } }],
        metricsFrom: [{ namespaceSelector: { matchLabels: { team: "obs" } } }],
      },
      webhook: {
        namespaceSelector: {
          excludedNamespaces: ["monitoring"],
          extraMatchExpressions: [{ key: "tier", operator: "Exists" }],
        },
      },
      tolerations: [{ key: "infra", operator: "Exists", effect: "NoSchedule" }],
      nodeSelector: { "kubernetes.io/os": "linux" },
      imagePullSecrets: [{ name: "registry" }],
      serviceAccount: { annotations: { "example.com/role": "x" } },
    },
  },
  {
    name: "every optional part switched off",
    values: {
      webhook: {
        matchConditions: { enabled: false },
        failurePolicy: { mutate: "Ignore", validate: "Ignore" },
      },
      topologySpread: { enabled: false },
      podDisruptionBudget: { enabled: false },
      networkPolicy: { enabled: false },
      rbac: { create: false },
      serviceAccount: { create: false, name: "existing" },
    },
  },
];

function describeKind(object: Manifest): string {
  return `${object.apiVersion}/${object.kind}`;
}

describe.each(VARIANTS)("rendered with $name", ({ values }) => {
  let objects: readonly Manifest[];
  let text: string;
  beforeAll(() => {
    const result = tryRenderChart({ values });
    if (!result.ok) throw new Error(result.error);
    objects = result.objects;
    text = result.text;
  });

  it("validates every built-in object against the Kubernetes API schema", () => {
    const builtIn = objects.filter((o) => describeKind(o) in API_MODELS);
    expect(builtIn.length).toBeGreaterThan(5);
    for (const object of builtIn) {
      const model = API_MODELS[describeKind(object)]!(object);
      expect(() => {
        model.validate();
      }, `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it("renders only kinds it can check, custom ones with a namespaced spec", () => {
    for (const object of objects) {
      const kind = describeKind(object);
      expect([...Object.keys(API_MODELS), ...CUSTOM_KINDS]).toContain(kind);
      if (CUSTOM_KINDS.includes(kind)) {
        expect(object.metadata.name).toMatch(DNS_SUBDOMAIN);
        expect(object.metadata.namespace).toBe(NAMESPACE);
        expect(typeof object["spec"]).toBe("object");
      }
    }
  });

  it("gives every object a unique kind and name", () => {
    const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("leaves no blank lines in the output", () => {
    const blank = text
      .trimEnd()
      .split("\n")
      .filter((line) => line.trim() === "");
    expect(blank).toEqual([]);
  });
});

describe("templates", () => {
  const templateDir = join(CHART_DIR, "templates");
  const files = readdirSync(templateDir, { recursive: true, encoding: "utf8" }).filter((f) =>
    /\.(yaml|tpl|txt)$/.test(f),
  );

  it.each(files.map((file) => ({ name: file })))(
    "$name uses include, never template",
    ({ name }) => {
      expect(readFileSync(join(templateDir, name), "utf8")).not.toMatch(/\{\{-?\s*template\s/);
    },
  );
});
