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
    const byte = json[i];
    if (inString) {
      // A backslash escapes the next byte (`\"` does not end the string); UTF-8 continuation
      // bytes are never ASCII, so multi-byte characters need no care.
      if (byte === BACKSLASH) i += 1;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth += 1;
      if (depth > limit) return i;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth -= 1;
    }
  }
  return -1;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
