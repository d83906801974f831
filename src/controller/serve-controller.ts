/** `serve --controller`: where the Lease lives and who this replica is, then start campaigning. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ConfigError } from "../errors.js";
import { SERVICE_ACCOUNT_DIR, type KubeConfig } from "../kube/client.js";
import type { ControllerLimits } from "../config/controller.js";
import type { PolicyConfig } from "../policy/index.js";
import { readApprovalKey } from "./approval.js";
import {
  createController,
  defaultIdentity,
  DEFAULT_LEASE_NAME,
  type Controller,
} from "./controller.js";

export interface ServeControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly policy: PolicyConfig;
  readonly limits: () => ControllerLimits;
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | null;
  /** `--approval-key-file`: required, the controller acts only on approved expose annotations. */
  readonly approvalKeyFile: string | undefined;
  readonly registry: Registry;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--leader-election-namespace`; else the pod's namespace, else `default`. */
  readonly leaseNamespace: string | undefined;
  /** Where the service account's namespace file is; a parameter so tests can point elsewhere. */
  readonly serviceAccountDir?: string;
}

export function startServeController(options: ServeControllerOptions): Controller {
  if (options.approvalKeyFile === undefined) {
    throw new ConfigError(
      "the controller needs --approval-key-file (STSGUARD_APPROVAL_KEY_FILE): it acts only on expose annotations approved at admission with that key, and the webhook needs the same file",
    );
  }
  const leaseNamespace =
    options.leaseNamespace ??
    (options.env["POD_NAMESPACE"] ||
      readPodNamespace(options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR) ||
      "default");
  const identity = defaultIdentity(options.env);
  options.logger.info(
    { lease: `${leaseNamespace}/${DEFAULT_LEASE_NAME}`, identity },
    "controller enabled: campaigning for the Lease",
  );
  const controller = createController({
    kubeConfig: options.kubeConfig,
    logger: options.logger,
    policy: options.policy,
    limits: options.limits,
    namespaceLabels: options.namespaceLabels,
    approvalKey: readApprovalKey(options.approvalKeyFile),
    registry: options.registry,
    leaseNamespace,
    identity,
  });
  controller.start();
  return controller;
}

function readPodNamespace(serviceAccountDir: string): string | undefined {
  const file = join(serviceAccountDir, "namespace");
  if (!existsSync(file)) return undefined;
  return readFileSync(file, "utf8").trim() || undefined;
}
