/**
 * The API server turns each `response.warnings` entry into a `Warning: 299 - "<text>"` header. It
 * silently drops texts with control characters or invalid UTF-8, deduplicates, cuts every text to
 * 256 runes once they add up past 4096, and drops those that come after (kubernetes-facts.md 3.2).
 * So each warning is made single-line and short here, and a long list ends with a count of what
 * was left out instead of losing it silently.
 */
export const MAX_WARNING_RUNES = 256;
export const MAX_WARNINGS_TOTAL_RUNES = 4096;
/** Room kept for "stsguard: N more warnings not shown". */
const CLOSING_NOTE_RESERVE = 64;

// Control characters (C0, DEL, C1) and lone surrogates, which are not valid UTF-8 once encoded.
const UNSAFE = /[\p{Cc}\p{Cs}]/gu;
const SPACES = / {2,}/g;
// Either of the above: most texts have neither, and one test is cheaper than two replaces.
const NEEDS_CLEANING = /[\p{Cc}\p{Cs}]| {2}/u;

/** One warning as the API server will keep it: single line, at most 256 runes. */
export function toWarningText(text: string): string {
  const clean = (
    NEEDS_CLEANING.test(text) ? text.replace(UNSAFE, " ").replace(SPACES, " ") : text
  ).trim();
  // UTF-16 length is never below the rune count: short texts need no counting.
  if (clean.length <= MAX_WARNING_RUNES) return clean;
  const runes = Array.from(clean);
  if (runes.length <= MAX_WARNING_RUNES) return clean;
  return runes.slice(0, MAX_WARNING_RUNES - 1).join("") + "…";
}

/** Sanitised, deduplicated warnings that fit the API server's 4096-rune budget. */
export function toWarnings(texts: readonly string[]): string[] {
  if (texts.length === 0) return [];
  const unique: string[] = [];
  const seen = new Set<string>();
  let length = 0;
  for (const text of texts) {
    const clean = toWarningText(text);
    if (clean === "" || seen.has(clean)) continue;
    seen.add(clean);
    unique.push(clean);
    length += clean.length;
  }
  // UTF-16 length is never below the rune count: when even that leaves room for the closing
  // note, nothing below would be left out.
  if (length + CLOSING_NOTE_RESERVE <= MAX_WARNINGS_TOTAL_RUNES) return unique;
  const kept: string[] = [];
  let total = 0;
  for (const [index, text] of unique.entries()) {
    const size = countRunes(text);
    const left = unique.length - index;
    // Keep room for the closing note whenever something may still have to be left out.
    const reserve = left > 1 ? CLOSING_NOTE_RESERVE : 0;
    if (total + size + reserve > MAX_WARNINGS_TOTAL_RUNES) {
      kept.push(`stsguard: ${left} more warning${left === 1 ? "" : "s"} not shown`);
      break;
    }
    kept.push(text);
    total += size;
  }
  return kept;
}

function countRunes(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    // A high surrogate followed by a low one is one rune; lone surrogates were replaced already.
    if (code < 0xd800 || code > 0xdbff) count += 1;
  }
  return count;
}
