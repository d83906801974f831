import type { IPodSpec } from "kubernetes-models/v1";

/**
 * The Pod Security Standards "restricted" profile (which includes "baseline"), as the
 * PodSecurity admission plugin checks a pod spec. Returns one message per violation.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */

const RESTRICTED_VOLUME_SOURCES = [
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
];

export function listRestrictedViolations(spec: IPodSpec): string[] {
  const violations: string[] = [];
  const pod = spec.securityContext ?? {};
  const containers = [...(spec.initContainers ?? []), ...spec.containers];
  const flag = (condition: boolean, message: string): void => {
    if (condition) violations.push(message);
  };

  flag(spec.hostNetwork === true, "hostNetwork");
  flag(spec.hostPID === true, "hostPID");
  flag(spec.hostIPC === true, "hostIPC");
  flag(pod.runAsUser === 0, "pod runAsUser 0");
  flag(pod.seccompProfile?.type === "Unconfined", "pod seccompProfile Unconfined");
  for (const volume of spec.volumes ?? []) {
    const sources = Object.keys(volume).filter((key) => key !== "name");
    const allowed = sources.every((source) => RESTRICTED_VOLUME_SOURCES.includes(source));
    flag(!allowed, `volume ${volume.name} uses ${sources.join(", ")}`);
  }

  for (const container of containers) {
    const context = container.securityContext ?? {};
    const where = `container ${container.name}`;
    flag(context.privileged === true, `${where}: privileged`);
    flag(
      context.allowPrivilegeEscalation !== false,
      `${where}: allowPrivilegeEscalation not false`,
    );
    flag(
      context.runAsNonRoot !== true && pod.runAsNonRoot !== true,
      `${where}: runAsNonRoot not true`,
    );
    flag(context.runAsUser === 0, `${where}: runAsUser 0`);
    const seccomp = context.seccompProfile?.type ?? pod.seccompProfile?.type;
    flag(
      seccomp !== "RuntimeDefault" && seccomp !== "Localhost",
      `${where}: seccompProfile ${seccomp ?? "unset"}`,
    );
    flag(
      !(context.capabilities?.drop ?? []).includes("ALL"),
      `${where}: capabilities not dropping ALL`,
    );
    const added = (context.capabilities?.add ?? []).filter((c) => c !== "NET_BIND_SERVICE");
    flag(added.length > 0, `${where}: adds capabilities ${added.join(", ")}`);
    flag(
      (container.ports ?? []).some((port) => (port.hostPort ?? 0) !== 0),
      `${where}: hostPort`,
    );
  }
  return violations;
}
