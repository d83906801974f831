/**
 * A unified diff of two texts, as `diff -u` and `git diff` print it, for `fix --diff`: jsdiff's
 * line diff (Myers' algorithm) with three lines of context, file headers only.
 */
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from "diff";

export interface DiffOptions {
  readonly oldName: string;
  readonly newName: string;
  /** Unchanged lines shown around each change. */
  readonly context?: number;
}

/** Empty string when the texts are equal. */
export function createUnifiedDiff(oldText: string, newText: string, options: DiffOptions): string {
  if (oldText === newText) return "";
  return createTwoFilesPatch(
    options.oldName,
    options.newName,
    oldText,
    newText,
    undefined,
    undefined,
    {
      context: options.context ?? 3,
      headerOptions: FILE_HEADERS_ONLY,
    },
  );
}
