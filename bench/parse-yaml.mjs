// The reference for the CLI benchmark: read every .yaml/.yml file under a directory and parse it
// with the yaml package alone (parseAllDocuments, as `stsguard check` does), nothing else.
// Usage: node bench/parse-yaml.mjs <dir>   prints {"files":N,"documents":M}
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const [dir] = process.argv.slice(2);
const entries = await readdir(dir, { recursive: true, withFileTypes: true });
const files = entries
  .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
  .map((e) => join(e.parentPath ?? e.path, e.name))
  .sort();
let documents = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(await readFile(file, "utf8"))) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    documents += 1;
  }
}
process.stdout.write(`${JSON.stringify({ files: files.length, documents })}\n`);
