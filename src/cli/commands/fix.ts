import { lstat, realpath } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { UsageError } from "../../errors.js";
import {
  findDuplicateObjects,
  readManifestFiles,
  type InputProblem,
  type ManifestFile,
} from "../../manifests/read.js";
import { nodeWriteFs, writeFileAtomic, type WriteFs } from "../../files/atomic-write.js";
import { planFixes, type PlannedFix } from "../fix-files.js";
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, type CliIo, type SetExitCode } from "../io.js";
import { createUnifiedDiff } from "../line-diff.js";
import { addPolicyOptions, preparePolicy, type PolicyFlags } from "../policy-options.js";
import { toSafeLines, toSafeText } from "../reports/safe-text.js";
import { pluralize, renderProblems } from "../reports/text.js";
import { createStatefulSetResolver } from "../statefulset-resolver.js";

interface FixFlags extends PolicyFlags {
  readonly diff?: boolean;
}

export function fixCommand(io: CliIo, setExitCode: SetExitCode): Command {
  const command = new Command("fix")
    .description(
      "Write the mutating fixes (externalTrafficPolicy: Local, required labels) into manifest " +
        "files, keeping comments, key order and formatting. Files are replaced atomically; a file " +
        "that does not parse is left untouched.\n" +
        "Exit status: 0 done, 1 with --diff when something would change, 2 usage or input errors.",
    )
    .argument("<paths...>", "manifest files or directories (recursively: .yaml, .yml, .json)")
    .option("--diff", "print a unified diff of the fixes and write nothing");
  return addPolicyOptions(command).action(async (paths: string[], flags: FixFlags) => {
    setExitCode(await runFix(paths, flags, io, nodeWriteFs));
  });
}

/** The whole `fix` run; `fs` is where writes go, so tests can make them fail. */
export async function runFix(
  paths: readonly string[],
  flags: FixFlags,
  io: CliIo,
  fs: WriteFs,
): Promise<number> {
  if (paths.includes("-")) {
    throw new UsageError("fix rewrites files in place and cannot read standard input; use check -");
  }
  const setup = await preparePolicy(flags, io);
  try {
    const read = await readManifestFiles(paths, { cwd: io.cwd, defaultNamespace: setup.namespace });
    const documents = read.files.flatMap((f) => f.parsed.documents);
    const problems: InputProblem[] = [
      ...read.problems,
      ...read.files.flatMap((f) => f.parsed.problems),
      ...findDuplicateObjects(documents),
    ];
    // A file named on the command line may be a link (the walk resolves the ones it meets);
    // its objects still count for the StatefulSet lookups, but it is never written.
    const links = await findSymbolicLinks(read.files);
    for (const { file, target } of links.values()) {
      problems.push({
        file: file.file,
        severity: "error",
        message: `skipped ${file.file}: a symbolic link to ${target}; fix never writes through a link: run it on the target instead`,
      });
    }
    const plan = await planFixes(
      read.files.filter((f) => !links.has(f)),
      {
        policy: setup.config.policy,
        resolver: createStatefulSetResolver(documents, setup.namespace, setup.cluster?.source),
      },
    );
    problems.push(...plan.problems);
    const changed = plan.planned.filter((p) => p.after !== p.file.text);
    for (const fix of changed) {
      const name = fix.file.file;
      if (flags.diff === true) {
        const [oldName, newName] = path.isAbsolute(name)
          ? [name, name]
          : [`a/${name}`, `b/${name}`];
        // File names and the lines around a fix come from the input.
        io.stdout.write(
          toSafeLines(createUnifiedDiff(fix.file.text, fix.after, { oldName, newName })),
        );
        continue;
      }
      try {
        await writeFileAtomic(fix.file.absolutePath ?? name, fix.after, { fs });
        io.stdout.write(`fixed ${toSafeText(name)}: ${describeFixed(fix)}\n`);
      } catch (error: unknown) {
        problems.push({
          file: name,
          severity: "error",
          message: `cannot write ${name}, left unchanged: ${(error as Error).message}`,
        });
      }
    }
    io.stderr.write(renderProblems(problems));
    io.stderr.write(
      summarize(
        read.files.length,
        changed.length,
        flags.diff === true,
        plan.planned.reduce((n, p) => n + p.remaining, 0),
      ),
    );
    if (problems.some((p) => p.severity === "error")) return EXIT_USAGE;
    return flags.diff === true && changed.length > 0 ? EXIT_FINDINGS : EXIT_OK;
  } finally {
    await setup.cluster?.close();
  }
}

async function findSymbolicLinks(
  files: readonly ManifestFile[],
): Promise<Map<ManifestFile, { file: ManifestFile; target: string }>> {
  const links = new Map<ManifestFile, { file: ManifestFile; target: string }>();
  for (const file of files) {
    if (file.absolutePath === undefined) continue;
    const info = await lstat(file.absolutePath).catch(() => null);
    if (!info?.isSymbolicLink()) continue;
    const target = await realpath(file.absolutePath).catch(() => "a missing file");
    links.set(file, { file, target });
  }
  return links;
}

/** `2 Services`, `1 StatefulSet`, or `2 Services, 1 StatefulSet`. */
function describeFixed(fix: PlannedFix): string {
  const services = fix.fixedObjects - fix.fixedStatefulSets;
  const parts = [
    services > 0 ? pluralize(services, "Service") : "",
    fix.fixedStatefulSets > 0 ? pluralize(fix.fixedStatefulSets, "StatefulSet") : "",
  ];
  return parts.filter(Boolean).join(", ");
}

function summarize(files: number, changed: number, diffOnly: boolean, remaining: number): string {
  const verb = diffOnly ? "would fix" : "fixed";
  const head =
    changed === 0
      ? `nothing to fix in ${pluralize(files, "file")}`
      : `${verb} ${changed} of ${pluralize(files, "file")}`;
  const tail =
    remaining > 0
      ? `; ${pluralize(remaining, "finding")} ${remaining === 1 ? "needs" : "need"} a manual fix (see stsguard check)`
      : "";
  return `stsguard: ${head}${tail}\n`;
}
