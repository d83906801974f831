import type { Command } from "commander";

const COMMANDS = "serve|controller|check|audit|fix|generate|certs|export-policies";

/** The root command's name: `stsguard`, or `kubectl stsguard` when kubectl runs the plugin. */
export function programNameOf(command: Command): string {
  let root = command;
  while (root.parent) root = root.parent;
  return root.name();
}

/**
 * Help text written for `stsguard <command>`, as the program was invoked: every
 * `stsguard <command>` in it becomes `kubectl stsguard <command>` for the kubectl plugin.
 */
export function helpFor(text: string, command: Command): string {
  const name = programNameOf(command);
  return text.replace(new RegExp(`\\bstsguard (?=(?:${COMMANDS})\\b)`, "g"), `${name} `);
}
