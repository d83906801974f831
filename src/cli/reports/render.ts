/**
 * The output formats of `check` and `audit` (`-o/--output`): one renderer per file beside this
 * one, each turning the same report (src/report/model.ts) into its text. A new format is a new
 * file here and one case below.
 */
import type { InputProblem } from "../../manifests/read.js";
import type { PolicyConfig } from "../../policy/types.js";
import type { CheckReport } from "../../report/model.js";
import type { CliIo } from "../io.js";
import { readToolInfo } from "../tool-info.js";
import { renderGithub } from "./github.js";
import { renderJson } from "./json.js";
import { renderJunit } from "./junit.js";
import { renderSarif } from "./sarif.js";
import { renderText } from "./text.js";

export const OUTPUT_FORMATS = ["text", "json", "sarif", "github", "junit"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The report in one of the output formats. */
export async function render(
  format: OutputFormat,
  report: CheckReport,
  problems: readonly InputProblem[],
  policy: PolicyConfig,
  io: CliIo,
): Promise<string> {
  switch (format) {
    case "text":
      return renderText(report, { color: isColorTerminal(io) });
    case "json":
      return renderJson(report);
    case "sarif":
      return renderSarif(report, problems, { tool: await readToolInfo(), policy, cwd: io.cwd });
    case "github":
      return renderGithub(report, problems);
    case "junit":
      return renderJunit(report, problems);
  }
}

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
function isColorTerminal(io: CliIo): boolean {
  const noColor = io.env["NO_COLOR"];
  return io.stdout.isTTY === true && (noColor === undefined || noColor === "");
}
