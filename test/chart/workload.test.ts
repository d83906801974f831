import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ClusterRole, ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import {
  ConfigMap,
  Pod,
  Service,
  ServiceAccount,
  type IContainer,
  type IPodSpec,
} from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { defaultConfig, parseConfig } from "../../src/config/config.js";
import {
  CHART_DIR,
  FULLNAME,
  NAMESPACE,
  RELEASE,
  findByKind,
  findObject,
  findObjects,
  renderChart,
  tryRenderChart,
  type Manifest,
  type Values,
} from "./helm.js";
import { listRestrictedViolations } from "./pod-security.js";

const SELECTOR = {
  "app.kubernetes.io/name": "stsguard",
  "app.kubernetes.io/instance": RELEASE,
  "app.kubernetes.io/component": "webhook",
};

function readAppVersion(): string {
  const chart: unknown = parseYaml(readFileSync(join(CHART_DIR, "Chart.yaml"), "utf8"));
  const appVersion = (chart as { appVersion?: unknown }).appVersion;
  if (typeof appVersion !== "string") throw new Error("Chart.yaml has no appVersion string");
  return appVersion;
}

function podSpecOf(objects: readonly Manifest[]): IPodSpec {
  const spec = findObject(objects, Deployment.is).spec?.template.spec;
  if (!spec) throw new Error("Deployment has no pod template spec");
  return spec;
}

function containerOf(objects: readonly Manifest[]): IContainer {
  const [container, ...others] = podSpecOf(objects).containers;
  expect(others).toEqual([]);
  if (!container) throw new Error("Deployment has no container");
  return container;
}

function matchesLabels(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>> = {},
): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function readPodTemplate(values: Values) {
  return findObject(renderChart({ values }), Deployment.is).spec?.template;
}

describe("rendered workload with default values", () => {
  let objects: readonly Manifest[];
  beforeAll(() => {
    objects = renderChart();
  });

  it("runs two replicas and never loses one to a rollout", () => {
    const deployment = findObject(objects, Deployment.is);
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.spec?.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    expect(deployment.spec?.selector.matchLabels).toEqual(SELECTOR);
    expect(matchesLabels(SELECTOR, deployment.spec?.template.metadata?.labels)).toBe(true);
  });

  it("pulls the image tagged with the chart's appVersion", () => {
    expect(containerOf(objects).image).toBe(`ghcr.io/stsguard/stsguard:${readAppVersion()}`);
  });

  it("starts `stsguard serve` with TLS files, config file and metrics port", () => {
    expect(containerOf(objects).args).toEqual([
      "serve",
      "--port",
      "8443",
      "--tls-cert",
      "/tls/tls.crt",
      "--tls-key",
      "/tls/tls.key",
      "--config",
      "/etc/stsguard/config.yaml",
      "--metrics-port",
      "9090",
      "--drain-delay",
      "5s",
      "--shutdown-timeout",
      "10s",
    ]);
    expect(containerOf(objects).ports).toEqual([
      { name: "webhook", containerPort: 8443, protocol: "TCP" },
      { name: "metrics", containerPort: 9090, protocol: "TCP" },
    ]);
  });

  it("gives the pod time to drain, then to finish in-flight requests, before the kubelet kills it", () => {
    const spec = podSpecOf(objects);
    expect(spec.terminationGracePeriodSeconds).toBe(5 + 10 + 5);
    // The drain runs in the server after SIGTERM: no preStop hook, no shell needed in the image.
    expect(containerOf(objects).lifecycle).toBeUndefined();
  });

  it.each([
    { name: "readiness", probe: "readinessProbe" as const, path: "/readyz" },
    { name: "liveness", probe: "livenessProbe" as const, path: "/healthz" },
    { name: "startup", probe: "startupProbe" as const, path: "/healthz" },
  ])("checks $name on $path over plain HTTP on the metrics port", ({ probe, path }) => {
    expect(containerOf(objects)[probe]?.httpGet).toEqual({ path, port: "metrics", scheme: "HTTP" });
  });

  it("locks the container down: non-root, read-only root, no capabilities, RuntimeDefault seccomp", () => {
    expect(containerOf(objects).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(podSpecOf(objects).securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(podSpecOf(objects).securityContext?.runAsUser).toBeGreaterThan(0);
  });

  it.each([
    { name: "the webhook Deployment", pick: (o: readonly Manifest[]) => podSpecOf(o) },
    {
      name: "the helm test Pod",
      pick: (o: readonly Manifest[]) => findObject(o, Pod.is).spec!,
    },
  ])("$name meets the Pod Security Standards restricted profile", ({ pick }) => {
    expect(listRestrictedViolations(pick(objects))).toEqual([]);
  });

  it("mounts TLS and config read-only and gives the read-only root a writable /tmp", () => {
    const container = containerOf(objects);
    expect(container.volumeMounts).toEqual([
      { name: "tls", mountPath: "/tls", readOnly: true },
      { name: "config", mountPath: "/etc/stsguard", readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
    ]);
    const volumes = podSpecOf(objects).volumes ?? [];
    expect(volumes.find((v) => v.name === "config")?.configMap?.name).toBe(FULLNAME);
    expect(volumes.find((v) => v.name === "tmp")?.emptyDir).toBeDefined();
  });

  it("sets the log level through STSGUARD_LOG_LEVEL, and V8's heap sized for the memory limit", () => {
    expect(containerOf(objects).env).toEqual([
      { name: "STSGUARD_LOG_LEVEL", value: "info" },
      { name: "NODE_OPTIONS", value: "--max-semi-space-size=4 --max-old-space-size=128" },
    ]);
  });

  it("spreads replicas over nodes without blocking drains", () => {
    expect(podSpecOf(objects).topologySpreadConstraints).toEqual([
      {
        topologyKey: "kubernetes.io/hostname",
        maxSkew: 1,
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: { matchLabels: SELECTOR },
      },
    ]);
  });

  it("sets requests and a memory limit but no CPU limit", () => {
    expect(containerOf(objects).resources).toEqual({
      requests: { cpu: "50m", memory: "128Mi" },
      limits: { memory: "256Mi" },
    });
  });

  it("leaves priorityClassName unset by default", () => {
    expect(podSpecOf(objects)).not.toHaveProperty("priorityClassName");
  });

  it("keeps one replica through voluntary disruptions with a PodDisruptionBudget", () => {
    const pdb = findObject(objects, PodDisruptionBudget.is);
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: SELECTOR } });
  });

  it("exposes the webhook on 443 and metrics on 9090 through the Service", () => {
    const service = findObject(objects, Service.is);
    expect(service.metadata?.name).toBe(FULLNAME);
    expect(service.spec?.type).toBe("ClusterIP");
    expect(service.spec?.selector).toEqual(SELECTOR);
    expect(service.spec?.ports).toEqual([
      { name: "https", port: 443, targetPort: "webhook", protocol: "TCP" },
      { name: "metrics", port: 9090, targetPort: "metrics", protocol: "TCP" },
    ]);
  });

  it("never selects the helm test Pod with the Service, the PDB or the NetworkPolicy", () => {
    const testPodLabels = findObject(objects, Pod.is).metadata?.labels;
    expect(matchesLabels(SELECTOR, testPodLabels)).toBe(false);
  });

  it("grants only reads: statefulsets, services, namespaces, and list/watch on HPAs", () => {
    const role = findObject(objects, ClusterRole.is);
    const grants = (role.rules ?? []).flatMap((rule) =>
      (rule.apiGroups ?? []).flatMap((group) =>
        (rule.resources ?? []).map((resource) => ({
          resource: `${group}/${resource}`,
          verbs: [...rule.verbs].sort(),
        })),
      ),
    );
    expect(grants.map((g) => `${g.resource}: ${g.verbs.join(",")}`).sort()).toEqual([
      "/namespaces: get,list,watch",
      "/services: get,list,watch",
      "apps/statefulsets: get,list,watch",
      // The cache lists and watches them; a single HPA is never read by name.
      "autoscaling/horizontalpodautoscalers: list,watch",
    ]);
    expect(role.rules?.some((rule) => rule.resourceNames ?? rule.nonResourceURLs)).toBe(false);
  });

  it("binds the ClusterRole to the chart's ServiceAccount", () => {
    const account = findObject(objects, ServiceAccount.is);
    const binding = findObject(objects, ClusterRoleBinding.is);
    expect(binding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: findObject(objects, ClusterRole.is).metadata?.name,
    });
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: account.metadata?.name, namespace: NAMESPACE },
    ]);
    expect(podSpecOf(objects).serviceAccountName).toBe(account.metadata?.name);
  });

  it("admits traffic only on the webhook and metrics ports", () => {
    const policy = findObject(objects, NetworkPolicy.is);
    expect(policy.spec?.podSelector).toEqual({ matchLabels: SELECTOR });
    expect(policy.spec?.policyTypes).toEqual(["Ingress"]);
    expect(policy.spec?.ingress).toEqual([
      { ports: [{ port: 8443, protocol: "TCP" }] },
      { ports: [{ port: 9090, protocol: "TCP" }] },
    ]);
  });

  it("creates no ServiceMonitor unless asked", () => {
    expect(findByKind(objects, "ServiceMonitor")).toEqual([]);
  });

  it("writes a configuration the server parses to its own defaults", () => {
    const configMap = findObject(objects, ConfigMap.is);
    const text = configMap.data?.["config.yaml"] ?? "";
    expect(parseConfig(text, "configmap")).toEqual(defaultConfig);
  });

  it("labels every object with the standard app.kubernetes.io labels", () => {
    for (const object of objects) {
      expect(object.metadata.labels).toMatchObject({
        "app.kubernetes.io/name": "stsguard",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/version": readAppVersion(),
      });
    }
  });

  it("puts namespaced objects in the release namespace", () => {
    const clusterScoped = ["ClusterRole", "ClusterRoleBinding"];
    for (const object of objects) {
      if (object.kind.endsWith("WebhookConfiguration") || clusterScoped.includes(object.kind)) {
        expect(object.metadata.namespace).toBeUndefined();
      } else {
        expect(object.metadata.namespace).toBe(NAMESPACE);
      }
    }
  });
});

describe("rendered workload driven by values", () => {
  it("passes nodeOptions as NODE_OPTIONS, and leaves the image's own when it is empty", () => {
    const env = (nodeOptions: string) =>
      readPodTemplate({ nodeOptions })?.spec?.containers[0]?.env ?? [];
    expect(env("--max-old-space-size=256")).toContainEqual({
      name: "NODE_OPTIONS",
      value: "--max-old-space-size=256",
    });
    expect(env("").map((e) => e.name)).not.toContain("NODE_OPTIONS");
  });

  it("does not restart pods when the configuration changes: the server reloads it", () => {
    const base = readPodTemplate({});
    const changed = readPodTemplate({
      config: { mode: "warn", rules: { "orphaned-service": "error" } },
    });
    expect(changed).toEqual(base);
    expect(base?.metadata?.annotations).toBeUndefined();
  });

  it("passes rule severities and extra labels to the server configuration", () => {
    const objects = renderChart({
      values: {
        config: {
          rules: { "statefulset-not-found": "error", "selector-mismatch": "off" },
          labels: { extra: [{ key: "team", fromStatefulSetLabel: "team" }] },
          onLookupFailure: "allow",
        },
      },
    });
    const config = parseConfig(findObject(objects, ConfigMap.is).data?.["config.yaml"] ?? "", "cm");
    expect(config.policy.severities["statefulset-not-found"]).toBe("error");
    expect(config.policy.severities["selector-mismatch"]).toBe("off");
    expect(config.policy.severities["ordinal-out-of-range"]).toBe("error");
    expect(config.policy.extraLabels).toEqual([{ key: "team", fromStatefulSetLabel: "team" }]);
    expect(config.onLookupFailure).toBe("allow");
  });

  it("sets priorityClassName, a pinned digest, extra args and pod metadata from values", () => {
    const objects = renderChart({
      values: {
        priorityClassName: "system-cluster-critical",
        image: { digest: `sha256:${"a".repeat(64)}` },
        extraArgs: ["--kube-version", "1.30"],
        podAnnotations: { "example.com/a": "1" },
        podLabels: { team: "platform" },
      },
    });
    const deployment = findObject(objects, Deployment.is);
    const template = deployment.spec?.template;
    expect(template?.spec?.priorityClassName).toBe("system-cluster-critical");
    expect(containerOf(objects).image).toBe(`ghcr.io/stsguard/stsguard@sha256:${"a".repeat(64)}`);
    expect(containerOf(objects).args?.slice(-2)).toEqual(["--kube-version", "1.30"]);
    expect(template?.metadata?.annotations?.["example.com/a"]).toBe("1");
    expect(template?.metadata?.labels?.["team"]).toBe("platform");
    expect(deployment.spec?.selector.matchLabels).toEqual(SELECTOR);
  });

  it("passes the shutdown timing to the server and sizes the grace period from it", () => {
    const objects = renderChart({
      values: { shutdown: { drainDelaySeconds: 15, timeoutSeconds: 20 } },
    });
    expect(containerOf(objects).args).toEqual(
      expect.arrayContaining(["--drain-delay", "15s", "--shutdown-timeout", "20s"]),
    );
    const args = containerOf(objects).args ?? [];
    expect(args[args.indexOf("--drain-delay") + 1]).toBe("15s");
    expect(podSpecOf(objects).terminationGracePeriodSeconds).toBe(15 + 20 + 5);
  });

  it("uses minAvailable instead of maxUnavailable when asked", () => {
    const objects = renderChart({
      values: { podDisruptionBudget: { minAvailable: "50%", maxUnavailable: null } },
    });
    expect(findObject(objects, PodDisruptionBudget.is).spec).toEqual({
      minAvailable: "50%",
      selector: { matchLabels: SELECTOR },
    });
  });

  it.each([
    {
      name: "both minAvailable and maxUnavailable",
      budget: { minAvailable: 1 },
      message: "podDisruptionBudget: set only one of minAvailable and maxUnavailable",
    },
    {
      name: "neither minAvailable nor maxUnavailable",
      budget: { maxUnavailable: null },
      message: "podDisruptionBudget: set minAvailable or maxUnavailable, or disable the budget",
    },
  ])("refuses a budget with $name", ({ budget, message }) => {
    const result = tryRenderChart({ values: { podDisruptionBudget: budget } });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.error).toContain(message);
  });

  it("restricts the metrics port to the given peers", () => {
    const peer = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
    };
    const objects = renderChart({ values: { networkPolicy: { metricsFrom: [peer] } } });
    expect(findObject(objects, NetworkPolicy.is).spec?.ingress).toEqual([
      { ports: [{ port: 8443, protocol: "TCP" }] },
      { ports: [{ port: 9090, protocol: "TCP" }], from: [peer] },
    ]);
  });

  it("creates a ServiceMonitor for the metrics port when enabled", () => {
    const objects = renderChart({
      values: { serviceMonitor: { enabled: true, labels: { release: "prometheus" } } },
    });
    const [monitor, ...others] = findByKind(objects, "ServiceMonitor");
    expect(others).toEqual([]);
    expect(monitor?.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(monitor?.metadata.labels?.["release"]).toBe("prometheus");
    expect(monitor?.["spec"]).toEqual({
      selector: { matchLabels: SELECTOR },
      namespaceSelector: { matchNames: [NAMESPACE] },
      endpoints: [
        {
          port: "metrics",
          path: "/metrics",
          scheme: "http",
          interval: "30s",
          scrapeTimeout: "10s",
        },
      ],
    });
  });

  it.each([
    {
      name: "omits RBAC objects when rbac.create is false",
      values: { rbac: { create: false } },
      absent: ["ClusterRole", "ClusterRoleBinding"],
    },
    {
      name: "omits the PodDisruptionBudget when disabled",
      values: { podDisruptionBudget: { enabled: false } },
      absent: ["PodDisruptionBudget"],
    },
    {
      name: "omits the NetworkPolicy when disabled",
      values: { networkPolicy: { enabled: false } },
      absent: ["NetworkPolicy"],
    },
  ])("$name", ({ values, absent }) => {
    const objects = renderChart({ values });
    for (const kind of absent) expect(findByKind(objects, kind)).toEqual([]);
  });

  it("omits topology spread when disabled", () => {
    const objects = renderChart({ values: { topologySpread: { enabled: false } } });
    expect(podSpecOf(objects)).not.toHaveProperty("topologySpreadConstraints");
  });

  it("runs as an existing ServiceAccount, which must then be named", () => {
    const objects = renderChart({ values: { serviceAccount: { create: false, name: "mine" } } });
    expect(findObjects(objects, ServiceAccount.is)).toEqual([]);
    expect(podSpecOf(objects).serviceAccountName).toBe("mine");
    expect(findObject(objects, ClusterRoleBinding.is).subjects?.[0]?.name).toBe("mine");
    const unnamed = tryRenderChart({ values: { serviceAccount: { create: false } } });
    expect(unnamed.ok ? "" : unnamed.error).toContain(
      "serviceAccount.name is required when serviceAccount.create is false",
    );
  });
});

describe("helm test Pod", () => {
  let pod: Pod;
  let script: string;
  beforeAll(() => {
    pod = new Pod(findObject(renderChart(), Pod.is));
    script = pod.spec?.containers[0]?.args?.[0] ?? "";
  });

  it("is a test hook that is cleaned up after it passes", () => {
    expect(pod.metadata?.annotations).toEqual({
      "helm.sh/hook": "test",
      "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    });
    expect(pod.spec?.restartPolicy).toBe("Never");
  });

  it("uses the pinned curl image", () => {
    expect(pod.spec?.containers[0]?.image).toBe("curlimages/curl:8.11.1");
  });

  it("POSTs a valid AdmissionReview v1 to /validate, verifying TLS with the CA", () => {
    const review = /review='([^']*)'/.exec(script)?.[1];
    const parsed: unknown = JSON.parse(review ?? "null");
    expect(parsed).toMatchObject({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "stsguard-helm-test",
        operation: "CREATE",
        resource: { group: "", version: "v1", resource: "services" },
        dryRun: true,
      },
    });
    expect(script).toContain(`"https://${FULLNAME}.${NAMESPACE}.svc:443/validate"`);
    expect(script).toContain('--cacert "$ca"');
    expect(script).toContain("--fail");
    expect(script).toMatch(/grep -Eq '"uid": \?"stsguard-helm-test"'/);
    expect(script).toMatch(/grep -Eq '"allowed": \?true'/);
  });
});
