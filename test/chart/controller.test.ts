import { Deployment } from "kubernetes-models/apps/v1";
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  type IClusterRoleBinding,
  type IRoleBinding,
} from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { beforeAll, describe, expect, it } from "vitest";
import {
  findObject,
  findObjects,
  FULLNAME,
  lintChart,
  NAMESPACE,
  renderChart,
  type Manifest,
} from "./helm.js";

function grantsOf(rules: ClusterRole["rules"]): string[] {
  return (rules ?? []).flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).map(
        (resource) =>
          `${group}/${resource}${rule.resourceNames ? `[${rule.resourceNames.join(",")}]` : ""}: ${[...rule.verbs].sort().join(",")}`,
      ),
    ),
  );
}

/** The admission Deployment's container, or the controller Deployment's. */
function containerOf(objects: readonly Manifest[], which: "webhook" | "controller" = "webhook") {
  const deployment = deploymentOf(objects, which);
  const container = deployment?.spec?.template.spec?.containers[0];
  if (!container) throw new Error(`no ${which} container`);
  return container;
}

function deploymentOf(objects: readonly Manifest[], which: "webhook" | "controller") {
  return findObjects(objects, Deployment.is).find(
    (d) => d.metadata?.name === (which === "webhook" ? FULLNAME : `${FULLNAME}-controller`),
  );
}

const CONTROLLER_SA = `${FULLNAME}-controller`;

describe("chart with controller.enabled", () => {
  let objects: readonly Manifest[];
  beforeAll(() => {
    objects = renderChart({ values: { controller: { enabled: true } } });
  });

  it("runs `stsguard controller` in a Deployment of its own, under its own ServiceAccount", () => {
    const controller = deploymentOf(objects, "controller");
    expect(controller?.spec?.template.spec?.serviceAccountName).toBe(CONTROLLER_SA);
    expect(controller?.spec?.selector.matchLabels).toMatchObject({
      "app.kubernetes.io/component": "controller",
    });
    const container = containerOf(objects, "controller");
    expect(container.args).toEqual([
      "controller",
      "--config",
      "/etc/stsguard/config.yaml",
      "--approval-key-file",
      "/approval/key",
      "--metrics-port",
      "9090",
    ]);
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      ]),
    );
    // The admission pods do not run the controller; they approve with the same key.
    const webhook = containerOf(objects, "webhook");
    expect(webhook.args).not.toContain("--controller");
    expect(webhook.args).toEqual(expect.arrayContaining(["--approval-key-file", "/approval/key"]));
    expect(deploymentOf(objects, "webhook")?.spec?.template.spec?.serviceAccountName).toBe(
      FULLNAME,
    );
  });

  it("gives the Service writes to the controller's ServiceAccount only; the admission pods read and ask", () => {
    const roles = findObjects(objects, ClusterRole.is);
    const controllerRole = roles.find((role) => role.metadata?.name === `${FULLNAME}-controller`);
    expect(grantsOf(controllerRole?.rules).sort()).toEqual([
      "/events: create,patch",
      "/namespaces: get,list,watch",
      "/services: create,delete,get,list,patch,watch",
      "apps/statefulsets/finalizers: update",
      "apps/statefulsets: get,list,watch",
      "autoscaling/horizontalpodautoscalers: list,watch",
    ]);
    const binding = findObjects(objects, ClusterRoleBinding.is).find(
      (b) => b.roleRef.name === `${FULLNAME}-controller`,
    );
    expect(binding?.subjects).toEqual([
      { kind: "ServiceAccount", name: CONTROLLER_SA, namespace: NAMESPACE },
    ]);
    const admissionRole = roles.find((role) => role.metadata?.name === FULLNAME);
    expect(grantsOf(admissionRole?.rules).sort()).toEqual([
      "/namespaces: get,list,watch",
      "/services: get,list,watch",
      "apps/statefulsets: get,list,watch",
      "authorization.k8s.io/subjectaccessreviews: create",
      "autoscaling/horizontalpodautoscalers: list,watch",
    ]);
    const role = findObject(objects, Role.is);
    expect(role.metadata?.namespace).toBe(NAMESPACE);
    expect(grantsOf(role.rules).sort()).toEqual([
      "coordination.k8s.io/leases: create",
      "coordination.k8s.io/leases[stsguard-controller]: get,update",
    ]);
    const roleBinding = findObject(objects, RoleBinding.is);
    expect(roleBinding.metadata?.namespace).toBe(NAMESPACE);
    expect(roleBinding.subjects).toEqual([
      { kind: "ServiceAccount", name: CONTROLLER_SA, namespace: NAMESPACE },
    ]);
  });

  it("sends StatefulSet writes to /mutate for the approval of expose annotations", () => {
    const mutating = objects.find((o) => o.kind === "MutatingWebhookConfiguration");
    const webhooks = (mutating?.["webhooks"] ?? []) as {
      name: string;
      rules: { resources: string[]; operations: string[] }[];
    }[];
    expect(webhooks.map((w) => w.name)).toEqual([
      "mutate.stsguard.io",
      "approve-exposure.stsguard.io",
    ]);
    expect(webhooks[1]?.rules).toEqual([
      {
        apiGroups: ["apps"],
        apiVersions: ["v1"],
        resources: ["statefulsets"],
        operations: ["CREATE", "UPDATE"],
        scope: "Namespaced",
      },
    ]);
  });

  it("renders RBAC objects the Kubernetes API schema accepts", () => {
    for (const object of objects) {
      if (object.kind === "Role") new Role(object).validate();
      if (object.kind === "RoleBinding")
        new RoleBinding(object as unknown as IRoleBinding).validate();
      if (object.kind === "ClusterRole") new ClusterRole(object).validate();
      if (object.kind === "ClusterRoleBinding") {
        new ClusterRoleBinding(object as unknown as IClusterRoleBinding).validate();
      }
    }
  });

  it("passes helm lint --strict", () => {
    expect(lintChart({ controller: { enabled: true } }).ok).toBe(true);
  });
});

describe("chart without the controller", () => {
  it.each([
    { name: "defaults", values: {} },
    {
      name: "controller on, rbac.create false",
      values: { controller: { enabled: true }, rbac: { create: false } },
    },
  ])("grants no write and no Lease ($name)", ({ values }) => {
    const objects = renderChart({ values });
    expect(findObjects(objects, Role.is)).toEqual([]);
    const admission = findObjects(objects, ClusterRole.is).find(
      (r) => r.metadata?.name === FULLNAME,
    );
    for (const rule of admission?.rules ?? []) {
      expect(rule.verbs.filter((verb) => !["get", "list", "watch"].includes(verb))).toEqual(
        rule.resources?.includes("subjectaccessreviews") ? ["create"] : [],
      );
    }
    expect(findObjects(objects, ClusterRole.is).map((r) => r.metadata?.name)).not.toContain(
      `${FULLNAME}-controller`,
    );
  });

  it("does not pass --controller by default", () => {
    const container = containerOf(renderChart());
    expect(container.args).not.toContain("--controller");
    expect(container.env?.map((e) => e.name)).not.toContain("POD_NAMESPACE");
  });
});
