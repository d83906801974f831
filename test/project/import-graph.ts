/**
 * The import graph of src/, read with the TypeScript compiler's parser (no type checking): every
 * static import, type-only import, `export … from`, dynamic `import()` and `import("…").Type`, so
 * no way of naming a module escapes the layers test.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

export interface ImportEdge {
  /** The importing file, relative to the repository (`src/audit/judge.ts`). */
  readonly from: string;
  /** The specifier as written (`../cli/check-manifests.js`, `node:fs`, `yaml`). */
  readonly specifier: string;
  /** For a relative specifier: the imported file, relative to the repository; else null. */
  readonly to: string | null;
  /** 1-based line of the import, for the failure message. */
  readonly line: number;
}

/** Every module specifier a TypeScript source names, with its 1-based line. */
export function readSpecifiers(
  fileName: string,
  text: string,
): { specifier: string; line: number }[] {
  const source = ts.createSourceFile(
    fileName,
    text,
    ts.ScriptTarget.Latest,
    true,
    ts.ScriptKind.TS,
  );
  const found: { specifier: string; line: number }[] = [];
  const add = (node: ts.Node): void => {
    if (!ts.isStringLiteralLike(node)) return;
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    found.push({ specifier: node.text, line: line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier) add(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node)) {
      if (ts.isExternalModuleReference(node.moduleReference)) {
        add(node.moduleReference.expression);
      }
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      const [first] = node.arguments;
      if ((isImport || isRequire) && first) add(first);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) add(argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every .ts file under `dir`, relative to `root`, sorted. */
export function listSources(root: string, dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * The edges of every file under `dir`. A relative specifier names the emitted `.js`; it resolves
 * to the `.ts` beside it (or `index.ts` of a folder). One that resolves to nothing throws: a
 * reader that silently lost an edge would let an upward import through.
 */
export function readImportGraph(root: string, dir: string): ImportEdge[] {
  return listSources(root, dir).flatMap((from) =>
    readSpecifiers(from, readFileSync(path.join(root, from), "utf8")).map(
      ({ specifier, line }) => ({
        from,
        specifier,
        to: specifier.startsWith(".") ? resolveRelative(root, from, specifier, line) : null,
        line,
      }),
    ),
  );
}

function resolveRelative(root: string, from: string, specifier: string, line: number): string {
  const base = path.join(path.dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, ".ts"), path.join(base, "index.ts"), base];
  const found = candidates.find((candidate) => existsSync(path.join(root, candidate)));
  if (!found) throw new Error(`${from}:${line}: import "${specifier}" resolves to no file`);
  return found;
}
