/**
 * A unified diff of two texts, line by line (Myers' O(ND) algorithm), as `diff -u` and
 * `git diff` print it. Small and dependency-free: fixes change a few lines of large files.
 */

type Edit = { readonly kind: "same" | "del" | "add"; readonly line: string };

export interface DiffOptions {
  readonly oldName: string;
  readonly newName: string;
  /** Unchanged lines shown around each change. */
  readonly context?: number;
}

/** Empty string when the texts are equal. */
export function createUnifiedDiff(oldText: string, newText: string, options: DiffOptions): string {
  if (oldText === newText) return "";
  const oldLines = splitLines(oldText);
  const newLines = splitLines(newText);
  const edits = diffLines(oldLines, newLines);
  const hunks = groupHunks(edits, options.context ?? 3);
  const out = [`--- ${options.oldName}`, `+++ ${options.newName}`];
  for (const hunk of hunks) out.push(...hunk);
  return `${out.join("\n")}\n`;
}

/** Lines without their `\n`; a last line without one is marked the way diff marks it. */
function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") {
    lines.pop();
  } else {
    lines[lines.length - 1] = `${lines[lines.length - 1] ?? ""}\n\\ No newline at end of file`;
  }
  return lines;
}

/** The shortest edit script turning `a` into `b` (Myers 1986, forward greedy with trace). */
export function diffLines(a: readonly string[], b: readonly string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
      let x = down ? (v[offset + k + 1] ?? 0) : (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  trace.push(v.slice());
  return backtrack(trace, a, b, offset);
}

function backtrack(
  trace: Int32Array[],
  a: readonly string[],
  b: readonly string[],
  offset: number,
): Edit[] {
  const edits: Edit[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 2; d >= 0; d--) {
    const v = trace[d] ?? new Int32Array(0);
    const k = x - y;
    const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
    const prevK = down ? k + 1 : k - 1;
    const prevX = v[offset + prevK] ?? 0;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      edits.push({ kind: "same", line: a[--x] ?? "" });
      y--;
    }
    if (d === 0) break;
    if (down) edits.push({ kind: "add", line: b[--y] ?? "" });
    else edits.push({ kind: "del", line: a[--x] ?? "" });
  }
  while (x > 0 && y > 0) {
    edits.push({ kind: "same", line: a[--x] ?? "" });
    y--;
  }
  return edits.reverse();
}

function groupHunks(edits: readonly Edit[], context: number): string[][] {
  // 1-based line numbers in the old and new text where each edit stands.
  const oldAt: number[] = [];
  const newAt: number[] = [];
  let oldLine = 1;
  let newLine = 1;
  for (const edit of edits) {
    oldAt.push(oldLine);
    newAt.push(newLine);
    if (edit.kind !== "add") oldLine++;
    if (edit.kind !== "del") newLine++;
  }
  const hunks: string[][] = [];
  let i = 0;
  while (i < edits.length) {
    if (edits[i]?.kind === "same") {
      i++;
      continue;
    }
    const start = i - Math.min(context, countSameBefore(edits, i));
    let end = i;
    // Changes closer than 2 * context unchanged lines share one hunk.
    for (;;) {
      while (end < edits.length && edits[end]?.kind !== "same") end++;
      const gap = countSameFrom(edits, end);
      if (end + gap < edits.length && gap <= 2 * context) {
        end += gap;
        continue;
      }
      end += Math.min(context, gap);
      break;
    }
    hunks.push(renderHunk(edits.slice(start, end), oldAt[start] ?? 1, newAt[start] ?? 1));
    i = end;
  }
  return hunks;
}

function renderHunk(edits: readonly Edit[], oldStart: number, newStart: number): string[] {
  const body = edits.map(
    (e) => `${e.kind === "same" ? " " : e.kind === "del" ? "-" : "+"}${e.line}`,
  );
  const oldCount = edits.filter((e) => e.kind !== "add").length;
  const newCount = edits.filter((e) => e.kind !== "del").length;
  // An empty range names the line before it, as diff does: `@@ -0,0 +1,2 @@` for a new file.
  const oldFrom = oldCount === 0 ? oldStart - 1 : oldStart;
  const newFrom = newCount === 0 ? newStart - 1 : newStart;
  return [`@@ -${formatRange(oldFrom, oldCount)} +${formatRange(newFrom, newCount)} @@`, ...body];
}

function formatRange(start: number, count: number): string {
  return count === 1 ? `${start}` : `${start},${count}`;
}

function countSameBefore(edits: readonly Edit[], index: number): number {
  let count = 0;
  for (let j = index - 1; j >= 0 && edits[j]?.kind === "same"; j--) count++;
  return count;
}

function countSameFrom(edits: readonly Edit[], index: number): number {
  let count = 0;
  for (let j = index; j < edits.length && edits[j]?.kind === "same"; j++) count++;
  return count;
}
