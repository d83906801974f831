/**
 * How deep a request body may nest. The recorded AdmissionReviews nest at most 10 levels
 * (managedFields); a StatefulSet's pod template with every optional field stays below 30.
 */
export const MAX_NESTING_DEPTH = 100;

/**
 * The byte offset at which JSON text opens its (limit+1)th nested object or array, or -1 when it
 * never nests that deep. A scan of the raw bytes, before anything parses them: JSON.parse
 * accepts any depth but spends seconds on a 3 MB body of brackets, and JSON.stringify,
 * structuredClone and the patch diff run out of stack near 5,000 levels.
 */
export function findExcessNesting(json: Uint8Array, limit = MAX_NESTING_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i += 1) {
    // Most bytes are none of the six that matter: one table load settles them (this scan runs
    // on every admission request).
    const kind = BYTE_KINDS[json[i] as number] as number;
    if (kind === OTHER) continue;
    if (inString) {
      // A backslash escapes the next byte (`\"` does not end the string); UTF-8 continuation
      // bytes are never ASCII, so multi-byte characters need no care.
      if (kind === BACKSLASH) i += 1;
      else if (kind === QUOTE) inString = false;
    } else if (kind === QUOTE) {
      inString = true;
    } else if (kind === OPEN) {
      depth += 1;
      if (depth > limit) return i;
    } else if (kind === CLOSE) {
      depth -= 1;
    }
  }
  return -1;
}

/**
 * Whether a parsed JSON value nests deeper than `limit` levels (the value itself is level 1),
 * as findExcessNesting would find in its text. Recursion stops at `limit`, so any depth is safe
 * to ask about. For a body the size of an AdmissionReview this costs a quarter of the byte scan:
 * it visits the ~60 objects and their values, not every byte.
 */
export function nestsDeeperThan(value: unknown, limit = MAX_NESTING_DEPTH): boolean {
  return typeof value === "object" && value !== null && exceeds(value, limit);
}

function exceeds(container: object, levelsLeft: number): boolean {
  if (levelsLeft === 0) return true;
  if (Array.isArray(container)) {
    for (const item of container as unknown[]) {
      if (typeof item === "object" && item !== null && exceeds(item, levelsLeft - 1)) return true;
    }
    return false;
  }
  const map = container as Record<string, unknown>;
  for (const key in map) {
    const item = map[key];
    if (typeof item === "object" && item !== null && exceeds(item, levelsLeft - 1)) return true;
  }
  return false;
}

const OTHER = 0;
const QUOTE = 1;
const BACKSLASH = 2;
const OPEN = 3;
const CLOSE = 4;
const BYTE_KINDS = new Uint8Array(256);
BYTE_KINDS[0x22] = QUOTE; // "
BYTE_KINDS[0x5c] = BACKSLASH; // \
BYTE_KINDS[0x7b] = OPEN; // {
BYTE_KINDS[0x5b] = OPEN; // [
BYTE_KINDS[0x7d] = CLOSE; // }
BYTE_KINDS[0x5d] = CLOSE; // ]
