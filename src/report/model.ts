/**
 * The report `check` and `audit` produce and every output format renders (src/cli/reports/):
 * findings placed in a file (`check`) or at an object (`audit`), the objects checked, a summary,
 * and the inputs or lookups that could not be judged. Data only: no evaluation, no I/O.
 */
import type { InputProblem } from "../manifests/read.js";
import type { FindingSeverity, RuleId } from "../policy/index.js";

/**
 * One finding placed in a file; the `--output json` shape (docs/rules.md, "JSON output"). `audit` places
 * findings at an object instead: `file` is `namespace/name` and `line` is 0 (see isObjectPlace).
 */
export interface ReportFinding {
  readonly rule: RuleId;
  readonly severity: FindingSeverity;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly fixable: boolean;
}

/** An object that was checked (a per-pod Service, or a StatefulSet with findings): a JUnit test case. */
export interface CheckedObject {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly findings: readonly ReportFinding[];
}

/** A finding or object of `audit`: placed at `namespace/name` (its `file`), not in a file. */
export function isObjectPlace(place: { readonly line: number }): boolean {
  return place.line === 0;
}

/** `file:line:column`, or `namespace/name` for `audit`. */
export function formatPlace(place: {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}): string {
  return isObjectPlace(place) ? place.file : `${place.file}:${place.line}:${place.column}`;
}

export interface CheckSummary {
  readonly objects: number;
  readonly perPodServices: number;
  /** StatefulSets judged (orphaned-service, governing-service, removed-api-version). */
  readonly statefulSets: number;
  readonly errors: number;
  readonly warnings: number;
}

export interface CheckReport {
  readonly summary: CheckSummary;
  /** In input order: file by file, then by line and column. */
  readonly findings: readonly ReportFinding[];
  readonly checked: readonly CheckedObject[];
  /** Lookups that could not be answered (the cluster was unreachable). */
  readonly problems: readonly InputProblem[];
}
