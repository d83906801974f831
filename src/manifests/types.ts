import type { Document } from "yaml";

/** A 1-based position in a manifest file. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** Where a field's position is taken: its key (`metadata:`) or its value (`web-3`). */
export type PositionAnchor = "key" | "value";

/** Path segments inside an object, as the policy engine's `Finding.path` gives them. */
export type FieldPath = readonly (string | number)[];

/**
 * One Kubernetes object read from a manifest file (or stdin), without its YAML tree: what
 * `check` and `serve --manifests` need. `locate` still places any field in the file.
 */
export interface ManifestObject {
  /** The file as shown to users: relative to the working directory when under it, `<stdin>` for stdin. */
  readonly file: string;
  /** Absolute path of the file; undefined for stdin. */
  readonly absolutePath: string | undefined;
  /** 0-based index of the YAML document inside the file. */
  readonly index: number;
  /** Index inside a `kind: List`'s `items`, when the object came from one. */
  readonly itemIndex: number | undefined;
  /** The object as plain JSON values. */
  readonly object: unknown;
  readonly apiVersion: string;
  readonly kind: string;
  /** `metadata.name`, or undefined when the object has none (e.g. only `generateName`). */
  readonly name: string | undefined;
  /** `metadata.namespace`, or the default namespace when the object has none. */
  readonly namespace: string;
  /**
   * Position of the deepest existing field on `path` (relative to the object), computed only
   * when asked. `anchor` picks the key or the value node; a missing value falls back to the key.
   */
  locate(path: FieldPath, anchor?: PositionAnchor): SourcePosition;
}

/** A Kubernetes object with the YAML tree it was parsed from (`fix` edits through it). */
export interface ManifestDocument extends ManifestObject {
  /** The parsed YAML document (shared by the items of one `kind: List`). */
  readonly yaml: Document.Parsed;
  /** Path of the object inside `yaml`: `[]`, or `["items", i]` for an item of a List. */
  readonly basePath: FieldPath;
}

/** Something wrong with the input itself, not a policy finding. */
export interface InputProblem {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly severity: "error" | "warning";
  readonly message: string;
}
