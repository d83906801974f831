/**
 * Relative links in Markdown, resolved as GitHub resolves them when it renders the file: the
 * path relative to the file's folder (or, with a leading `/`, to the repository's root), and an
 * `#anchor` against the slugs GitHub gives the target's headings.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export interface Link {
  /** 1-based line of the link in its file. */
  readonly line: number;
  readonly target: string;
}

export interface BrokenLink extends Link {
  readonly file: string;
  readonly problem: string;
}

/** The text with fenced code blocks blanked out (line count kept), so their contents are not read. */
function withoutCodeBlocks(markdown: string): string {
  let fence: string | undefined;
  return markdown
    .split("\n")
    .map((line) => {
      const opener = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence === undefined) {
        if (opener !== undefined) fence = opener;
        return opener === undefined ? line : "";
      }
      if (opener !== undefined && opener[0] === fence[0] && opener.length >= fence.length) {
        fence = undefined;
      }
      return "";
    })
    .join("\n");
}

/** Inline code spans (which may wrap a line) blanked out, newlines kept. */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)[\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, " "));
}

/**
 * GitHub's heading slug (github-slugger): lower case, every character that is not a letter, a
 * mark, a digit, a connector (`_`), a hyphen or a space removed, then each space a hyphen.
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link or image in a heading: its text
    .replace(/<[^>]+>/g, ""); // inline HTML: its text
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors a file offers: its ATX headings' slugs (the n-th repeat gets `-n`), and `<a id|name>`. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const text = withoutCodeBlocks(markdown);
  for (const line of text.split("\n")) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const match of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1] ?? "");
  return anchors;
}

/** Every inline link, image and reference definition outside code, with its line. */
export function linksOf(markdown: string): Link[] {
  const text = withoutCodeSpans(withoutCodeBlocks(markdown));
  const lineAt = (index: number): number => text.slice(0, index).split("\n").length;
  const inline = [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)];
  const definitions = [...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)];
  return [...inline, ...definitions]
    .map((match) => ({ line: lineAt(match.index), target: match[1] ?? "" }))
    .sort((a, b) => a.line - b.line);
}

const external = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/** The links of `file` (absolute) that do not resolve inside `root`, each with why. */
export function brokenLinks(file: string, root: string): BrokenLink[] {
  const markdown = readFileSync(file, "utf8");
  const relativeFile = path.relative(root, file);
  const broken: BrokenLink[] = [];
  for (const link of linksOf(markdown)) {
    if (external.test(link.target)) continue;
    const report = (problem: string): void => {
      broken.push({ file: relativeFile, ...link, problem });
    };
    const hash = link.target.indexOf("#");
    const pathPart = decodeURI(hash < 0 ? link.target : link.target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(link.target.slice(hash + 1));
    if (pathPart === "" && anchor === undefined) {
      report("empty link");
      continue;
    }
    const resolved =
      pathPart === ""
        ? file
        : pathPart.startsWith("/")
          ? path.join(root, pathPart)
          : path.resolve(path.dirname(file), pathPart);
    const inside = path.relative(root, resolved);
    if (inside.startsWith("..") || path.isAbsolute(inside)) {
      report("points outside the repository");
      continue;
    }
    if (!existsSync(resolved)) {
      report(`no such file: ${inside}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (statSync(resolved).isDirectory()) {
      report(`an anchor on a folder: ${inside}`);
    } else if (resolved.endsWith(".md") && !anchorsOf(readFileSync(resolved, "utf8")).has(anchor)) {
      report(`no heading #${anchor} in ${inside}`);
    }
  }
  return broken;
}
