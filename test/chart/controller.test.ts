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

function containerOf(objects: readonly Manifest[]) {
  const container = findObject(objects, Deployment.is).spec?.template.spec?.containers[0];
  if (!container) throw new Error("no container");
  return container;
}

describe("chart with controller.enabled", () => {
  let objects: readonly Manifest[];
  beforeAll(() => {
    objects = renderChart({ values: { controller: { enabled: true } } });
  });

  it("runs serve --controller with the pod's namespace and name", () => {
    const container = containerOf(objects);
    expect(container.args).toContain("--controller");
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      ]),
    );
  });

  it("grants the controller's writes cluster-wide and its Lease in the release namespace only", () => {
    const controllerRole = findObjects(objects, ClusterRole.is).find(
      (role) => role.metadata?.name === `${FULLNAME}-controller`,
    );
    expect(grantsOf(controllerRole?.rules).sort()).toEqual([
      "/events: create,patch",
      "/services: create,delete,patch",
      "apps/statefulsets/finalizers: update",
    ]);
    const binding = findObjects(objects, ClusterRoleBinding.is).find(
      (b) => b.roleRef.name === `${FULLNAME}-controller`,
    );
    expect(binding?.subjects).toEqual([
      { kind: "ServiceAccount", name: FULLNAME, namespace: NAMESPACE },
    ]);
    const role = findObject(objects, Role.is);
    expect(role.metadata?.namespace).toBe(NAMESPACE);
    expect(grantsOf(role.rules).sort()).toEqual([
      "coordination.k8s.io/leases: create",
      "coordination.k8s.io/leases[stsguard-controller]: get,update",
    ]);
    const roleBinding = findObject(objects, RoleBinding.is);
    expect(roleBinding.metadata?.namespace).toBe(NAMESPACE);
    expect(roleBinding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: role.metadata?.name,
    });
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
