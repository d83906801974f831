/** The controller's metrics, registered in the server's registry beside the webhook's. */
import { Counter, Gauge, type Registry } from "prom-client";

export type ReconcileOutcome = "success" | "error";
/** api: the API server failed (retried with backoff); the others wait for a change. */
export type ControllerErrorKind =
  | "api"
  | "conflict"
  | "not-owned"
  | "invalid-annotation"
  | "not-allowed"
  | "not-approved"
  | "refused";
export type ServiceWrite = "created" | "updated" | "deleted";

export interface ControllerMetrics {
  recordReconcile(outcome: ReconcileOutcome): void;
  recordError(kind: ControllerErrorKind): void;
  recordWrite(action: ServiceWrite): void;
}

export interface ControllerGauges {
  /** Services the controller owns, as its cache sees them (0 when not the leader). */
  readonly managedServices: () => number;
  readonly isLeader: () => boolean;
}

export function createControllerMetrics(
  registry: Registry,
  gauges: ControllerGauges,
): ControllerMetrics {
  const reconciles = new Counter({
    name: "stsguard_controller_reconciles_total",
    help: "Reconciles of one StatefulSet's per-pod Services, by outcome (error: retried with backoff).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: "stsguard_controller_errors_total",
    help: "Problems the controller reported, by kind (api, conflict, not-owned, invalid-annotation, not-allowed, not-approved, refused).",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const writes = new Counter({
    name: "stsguard_controller_service_writes_total",
    help: "Per-pod Services created, updated or deleted by the controller.",
    labelNames: ["action"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "stsguard_controller_managed_services",
    help: "Per-pod Services owned by the controller, as the leader's cache sees them.",
    registers: [registry],
    collect(): void {
      this.set(gauges.managedServices());
    },
  });
  new Gauge({
    name: "stsguard_controller_leader",
    help: "1 while this replica holds the controller's Lease and writes; 0 otherwise.",
    registers: [registry],
    collect(): void {
      this.set(gauges.isLeader() ? 1 : 0);
    },
  });
  return {
    recordReconcile: (outcome) => {
      reconciles.inc({ outcome });
    },
    recordError: (kind) => {
      errors.inc({ kind });
    },
    recordWrite: (action) => {
      writes.inc({ action });
    },
  };
}
