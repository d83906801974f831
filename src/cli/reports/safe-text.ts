/**
 * Text taken from input (file names, object names, selector values, parser messages that quote
 * them) made safe to print, in one place for every reporter and CLI message.
 *
 * What it defends against:
 * - terminal control: ESC starts CSI and OSC sequences (colours, cursor moves, window titles,
 *   hyperlinks, on some terminals clipboard writes), BEL rings, CR and backspace overwrite what
 *   was printed; C1 controls (U+0080-U+009F) are the same sequences in one character;
 * - bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, ...), which reorder
 *   what is shown so that it reads differently from what it is ("Trojan Source");
 * - CI log commands. The GitHub Actions runner treats a line that starts with `::` (after
 *   leading blanks) as a workflow command, and, in its legacy form, `##[` anywhere in a line:
 *   `##[set-output name=x;]...`, `##[add-mask]...`, `##[error]...`. A newline in a name would
 *   otherwise start such a line; `##[` needs no newline at all.
 *
 * Text reporters escape each field they take from input; JSON and XML documents are escaped
 * whole, with their own escapes, which decode back to the same characters (lossless).
 */

// C0 controls, DEL, C1 controls, the Arabic letter mark, left-to-right/right-to-left marks,
// line and paragraph separators, bidi embeddings and overrides, bidi isolates. Matching control
// characters is the point here.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
// The same without C0: in a serialized document those are its own line breaks and indentation,
// and JSON.stringify already escapes them inside strings.
const UNSAFE_BEYOND_C0 = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
const LEGACY_COMMAND = /##\[/g;

/**
 * One field of a text line, printable: each unsafe character as a visible escape (`\n`,
 * `\x1b`, `\u202e`), `##[` as `##\[`, and a leading `::` as `\x3a:`. Text without any of them
 * comes back unchanged.
 */
export function toSafeText(value: string): string {
  return value
    .replace(UNSAFE, escapeCharacter)
    .replace(LEGACY_COMMAND, "##\\[")
    .replace(/^( *)::/, "$1\\x3a:");
}

/**
 * Several lines of text (a message with line breaks of its own, a diff): each line escaped as
 * `toSafeText` does, the line breaks kept, and a CR that ends a line (CRLF files) kept with it.
 */
export function toSafeLines(text: string): string {
  return text
    .split("\n")
    .map((line) => (line.endsWith("\r") ? `${toSafeText(line.slice(0, -1))}\r` : toSafeText(line)))
    .join("\n");
}

/**
 * A serialized JSON document (JSON.stringify escapes C0 controls already, but not C1, bidi or
 * line separators), with those and `##[` as `\u` escapes inside its strings: it parses back to
 * exactly the same values.
 */
export function toSafeJson(json: string): string {
  return json
    .replace(UNSAFE_BEYOND_C0, (c) => `\\u${hex4(c)}`)
    .replace(LEGACY_COMMAND, "##\\u005b");
}

/**
 * A serialized XML document: C1, bidi and line separators and the `[` of `##[` as character
 * references, and a line that would start with `::` with its first colon as `&#58;`. Only text
 * and attribute values can hold these, so the references decode back to the same characters.
 * C0 controls other than tab, LF and CR cannot appear in XML 1.0 at all: the writer replaces
 * them before.
 */
export function toSafeXml(xml: string): string {
  return xml
    .replace(UNSAFE, (c) => {
      if (c === "\n" || c === "\r" || c === "\t") return c;
      // XML 1.0 has no reference for the other C0 controls either.
      return c < " " ? "\uFFFD" : `&#x${hex4(c)};`;
    })
    .replace(LEGACY_COMMAND, "##&#91;")
    .replace(/^(\s*)::/gm, "$1&#58;:");
}

function escapeCharacter(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${hex4(c)}`;
}

function hex4(c: string): string {
  return c.charCodeAt(0).toString(16).padStart(4, "0");
}
