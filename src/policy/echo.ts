/**
 * Values from the judged object that messages repeat back. An object's own strings can be as long
 * as the request allows (megabytes), and a message is read by a person, logged and sent back to
 * the API server, so what it echoes is cut short with a visible marker.
 */

export const TRUNCATED_MARKER = "…(truncated)";
/** How much of one echoed value a message keeps: longer than any valid name or label value. */
export const MAX_ECHOED_CHARS = 256;

/** `text` itself when short, else its first `max` characters and the marker. */
export function truncateText(text: string, max = MAX_ECHOED_CHARS): string {
  if (text.length <= max) return text;
  let end = max;
  // Never cut a surrogate pair in half: the rest would not be valid UTF-8.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end) + TRUNCATED_MARKER;
}

/**
 * A JSON value as a message shows it: a string quoted (and cut short), a number, boolean or null
 * as JSON, and a list or an object only named, never serialised.
 */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(truncateText(value));
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value !== null && typeof value === "object") return "an object";
  if (value === undefined) return "nothing";
  return truncateText(JSON.stringify(value));
}
