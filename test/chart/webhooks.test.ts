import {
  MutatingWebhookConfiguration,
  ValidatingWebhookConfiguration,
  type IMutatingWebhook,
  type IValidatingWebhook,
} from "kubernetes-models/admissionregistration.k8s.io/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigMap } from "kubernetes-models/v1";
import { parseConfig } from "../../src/config/config.js";
import { namespaceMode } from "../../src/guardrails/index.js";
import {
  FULLNAME,
  NAMESPACE,
  findObject,
  renderChart,
  tryRenderChart,
  type Manifest,
  type Values,
} from "./helm.js";

/** The CEL condition, verbatim: without an API server the expression itself is the contract. */
const PER_POD_CONDITION =
  "request.resource.resource != 'services' || (has(object.spec) && has(object.spec.selector) && " +
  "'statefulset.kubernetes.io/pod-name' in object.spec.selector)";

type ILabelSelector = NonNullable<IValidatingWebhook["namespaceSelector"]>;

interface Webhooks {
  readonly mutate: IMutatingWebhook;
  readonly validate: IValidatingWebhook;
}

function readWebhooks(objects: readonly Manifest[]): Webhooks {
  const mutating = findObject(objects, MutatingWebhookConfiguration.is);
  const validating = findObject(objects, ValidatingWebhookConfiguration.is);
  expect(mutating.webhooks).toHaveLength(1);
  expect(validating.webhooks).toHaveLength(1);
  return { mutate: mutating.webhooks![0]!, validate: validating.webhooks![0]! };
}

function renderWebhooks(values: Values = {}, namespace = NAMESPACE): Webhooks {
  return readWebhooks(renderChart({ values, namespace }));
}

/** Label selector semantics as the API server applies them to a namespace's labels. */
function matchesSelector(
  selector: ILabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    byLabels &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const value = labels[key];
      switch (operator) {
        case "In":
          return value !== undefined && values.includes(value);
        case "NotIn":
          return value === undefined || !values.includes(value);
        case "Exists":
          return value !== undefined;
        case "DoesNotExist":
          return value === undefined;
        default:
          throw new Error(`unknown operator ${operator}`);
      }
    })
  );
}

function namespaceLabels(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { "kubernetes.io/metadata.name": name, ...extra };
}

describe("webhook configurations with default values", () => {
  let webhooks: Webhooks;
  beforeAll(() => {
    webhooks = renderWebhooks();
  });

  it.each([{ name: "mutating" as const }, { name: "validating" as const }])(
    "$name webhook sets every safety field explicitly",
    ({ name }) => {
      const webhook = name === "mutating" ? webhooks.mutate : webhooks.validate;
      expect(webhook.sideEffects).toBe("None");
      expect(webhook.admissionReviewVersions).toEqual(["v1"]);
      expect(webhook.matchPolicy).toBe("Equivalent");
      expect(webhook.timeoutSeconds).toBe(5);
      expect(webhook.failurePolicy).toBe("Fail");
    },
  );

  it.each([
    { name: "mutating", path: "/mutate" },
    { name: "validating", path: "/validate" },
  ])("$name webhook calls the chart's Service on $path", ({ name, path }) => {
    const webhook = name === "mutating" ? webhooks.mutate : webhooks.validate;
    expect(webhook.clientConfig.service).toEqual({
      name: FULLNAME,
      namespace: NAMESPACE,
      path,
      port: 443,
    });
  });

  it("reinvokes the mutating webhook when a later webhook changed the object", () => {
    expect(webhooks.mutate.reinvocationPolicy).toBe("IfNeeded");
  });

  it("mutates only Service creates and updates", () => {
    expect(webhooks.mutate.rules).toEqual([
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        resources: ["services"],
        operations: ["CREATE", "UPDATE"],
        scope: "Namespaced",
      },
    ]);
  });

  it("validates Services, StatefulSets and the statefulsets/scale subresource", () => {
    expect(webhooks.validate.rules).toEqual([
      {
        apiGroups: [""],
        apiVersions: ["v1"],
        resources: ["services"],
        operations: ["CREATE", "UPDATE"],
        scope: "Namespaced",
      },
      {
        apiGroups: ["apps"],
        apiVersions: ["v1"],
        resources: ["statefulsets"],
        operations: ["CREATE", "UPDATE"],
        scope: "Namespaced",
      },
      {
        apiGroups: ["apps"],
        apiVersions: ["v1"],
        resources: ["statefulsets/scale"],
        operations: ["UPDATE"],
        scope: "Namespaced",
      },
    ]);
  });

  it.each([{ name: "mutating" as const }, { name: "validating" as const }])(
    "$name webhook skips non-per-pod Services with the exact CEL condition",
    ({ name }) => {
      const webhook = name === "mutating" ? webhooks.mutate : webhooks.validate;
      expect(webhook.matchConditions).toEqual([
        { name: "per-pod-services-only", expression: PER_POD_CONDITION },
      ]);
    },
  );

  it.each([
    { name: "skips the release namespace", labels: namespaceLabels(NAMESPACE), called: false },
    { name: "skips kube-system", labels: namespaceLabels("kube-system"), called: false },
    {
      // The server decides whether the label counts (config.labelsMayLowerIn): it must be asked.
      name: "calls for a namespace labelled stsguard.io/admission=disabled",
      labels: namespaceLabels("legacy", { "stsguard.io/admission": "disabled" }),
      called: true,
    },
    { name: "calls for an ordinary namespace", labels: namespaceLabels("default"), called: true },
  ])("namespaceSelector $name", ({ labels, called }) => {
    expect(matchesSelector(webhooks.mutate.namespaceSelector!, labels)).toBe(called);
    expect(matchesSelector(webhooks.validate.namespaceSelector!, labels)).toBe(called);
  });

  it("excludes namespaces by kubernetes.io/metadata.name only, never by a label their owners set", () => {
    expect(webhooks.validate.namespaceSelector).toEqual({
      matchExpressions: [
        {
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: [NAMESPACE, "kube-system"],
        },
      ],
    });
    expect(webhooks.mutate.namespaceSelector).toEqual(webhooks.validate.namespaceSelector);
  });
});

describe("webhook configurations driven by values", () => {
  it("takes failurePolicy separately for mutate and validate", () => {
    const { mutate, validate } = renderWebhooks({
      webhook: { failurePolicy: { mutate: "Ignore", validate: "Fail" } },
    });
    expect(mutate.failurePolicy).toBe("Ignore");
    expect(validate.failurePolicy).toBe("Fail");
    const swapped = renderWebhooks({
      webhook: { failurePolicy: { mutate: "Fail", validate: "Ignore" } },
    });
    expect(swapped.mutate.failurePolicy).toBe("Fail");
    expect(swapped.validate.failurePolicy).toBe("Ignore");
  });

  it("takes timeoutSeconds from values", () => {
    const { mutate, validate } = renderWebhooks({ webhook: { timeoutSeconds: 12 } });
    expect(mutate.timeoutSeconds).toBe(12);
    expect(validate.timeoutSeconds).toBe(12);
  });

  it("leaves matchConditions out when switched off", () => {
    const { mutate, validate } = renderWebhooks({
      webhook: { matchConditions: { enabled: false } },
    });
    expect(mutate).not.toHaveProperty("matchConditions");
    expect(validate).not.toHaveProperty("matchConditions");
  });

  it("uses the service port from values", () => {
    const { mutate } = renderWebhooks({ service: { port: 8443 } });
    expect(mutate.clientConfig.service?.port).toBe(8443);
  });

  describe("namespaceSelector extended by the user", () => {
    let selector: ILabelSelector;
    beforeAll(() => {
      selector = renderWebhooks({
        webhook: {
          namespaceSelector: {
            excludedNamespaces: ["monitoring"],
            // A user trying to bring the release namespace back in: ANDed, so it cannot.
            extraMatchExpressions: [
              { key: "kubernetes.io/metadata.name", operator: "In", values: [NAMESPACE, "apps"] },
            ],
          },
        },
      }).validate.namespaceSelector!;
    });

    it("appends the extra expressions after the built-in exclusions", () => {
      expect(selector.matchExpressions).toEqual([
        {
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: [NAMESPACE, "kube-system", "monitoring"],
        },
        { key: "kubernetes.io/metadata.name", operator: "In", values: [NAMESPACE, "apps"] },
      ]);
    });

    it.each([
      { name: "the release namespace stays excluded", namespace: NAMESPACE, called: false },
      { name: "an extra excluded namespace is skipped", namespace: "monitoring", called: false },
      {
        name: "a namespace the extra expression selects is called",
        namespace: "apps",
        called: true,
      },
      {
        name: "a namespace the extra expression leaves out is skipped",
        namespace: "default",
        called: false,
      },
    ])("$name", ({ namespace, called }) => {
      expect(matchesSelector(selector, namespaceLabels(namespace))).toBe(called);
    });
  });

  it("refuses the removed webhook.namespaceSelector.optOutLabel, saying what replaces it", () => {
    const result = tryRenderChart({
      values: {
        webhook: {
          namespaceSelector: { optOutLabel: { key: "stsguard.io/admission", value: "disabled" } },
        },
      },
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(
      "webhook.namespaceSelector.optOutLabel was removed: a namespace label in the webhooks' namespaceSelector lets whoever may label a namespace switch stsguard off for it. Set config.optOutLabel ({key, value}) and list the namespaces that may use it in config.labelsMayLowerIn",
    );
  });

  it("passes the opt-out label to the server, not to the selector", () => {
    const values = {
      config: {
        labelsMayLowerIn: ["sandbox-*"],
        optOutLabel: { key: "example.com/guard", value: "off" },
      },
    };
    const { mutate, validate } = renderWebhooks(values);
    const labels = namespaceLabels("sandbox-1", { "example.com/guard": "off" });
    expect(matchesSelector(mutate.namespaceSelector!, labels)).toBe(true);
    expect(matchesSelector(validate.namespaceSelector!, labels)).toBe(true);
    const configMap = findObject(renderChart({ values }), ConfigMap.is);
    const config = parseConfig(configMap.data?.["config.yaml"] ?? "", "config.yaml");
    expect(namespaceMode("sandbox-1", { "example.com/guard": "off" }, config).mode).toBe("off");
    expect(namespaceMode("payments", { "example.com/guard": "off" }, config).mode).toBe("enforce");
  });

  it.each([
    { name: "an opt-out label", config: { optOutLabel: { key: "a", value: "b" } } },
    { name: "the mode label", config: { namespaceModeLabel: true } },
  ])("refuses $name without labelsMayLowerIn", ({ config }) => {
    const result = tryRenderChart({ values: { config } });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(
      "config.optOutLabel and config.namespaceModeLabel apply only in the namespaces that config.labelsMayLowerIn lists (names or globs), and it is empty",
    );
  });

  it("lists kube-system once when the release itself lives there", () => {
    const { validate } = renderWebhooks({}, "kube-system");
    expect(validate.namespaceSelector?.matchExpressions?.[0]?.values).toEqual(["kube-system"]);
  });
});
