import type { StsguardConfig } from "../config/config.js";
import type { NamespaceSource } from "../namespaces/source.js";
import type { StatefulSetSource } from "../statefulsets/source.js";
import type { AdmissionRequest, AdmissionResult } from "./types.js";

/** What an admission decision reads: the sources of StatefulSets and namespaces, the config, the clock. */
export interface AdmitDeps {
  readonly source: StatefulSetSource;
  readonly config: StsguardConfig;
  /** Namespace labels for rules and exemptions that select by label; absent: none known. */
  readonly namespaces?: NamespaceSource;
  /** The clock exemptions expire by; default the wall clock. */
  readonly now?: () => Date;
  /**
   * With the controller: /mutate of a StatefulSet checks who changes its expose annotations and
   * approves them (src/controller/approval-admission.ts).
   */
  readonly exposeApproval?: (request: AdmissionRequest) => Promise<AdmissionResult>;
}
