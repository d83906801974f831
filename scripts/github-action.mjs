#!/usr/bin/env node
// The step behind action.yml: runs `stsguard check` from the action's own checkout on the
// runner's Node. It reads the inputs as GitHub passes them to actions (INPUT_PATHS, INPUT_STRICT,
// ...), prints the findings in the chosen format to the job log, writes the SARIF file when asked,
// sets the step outputs (exit-code, sarif-file) in $GITHUB_OUTPUT, and exits with check's status.
// A checkout has no build: the first run installs the production dependencies and compiles.
import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const EXIT_USAGE = 2;

class InputError extends Error {}

/** @param {string} name */
function readInput(name) {
  return (process.env[`INPUT_${name.toUpperCase()}`] ?? "").trim();
}

/** @param {string} name */
function readBoolean(name) {
  const value = readInput(name) || "false";
  if (value === "true" || value === "false") return value === "true";
  throw new InputError(`input ${name}: expected true or false, got "${value}"`);
}

/**
 * The inputs, checked, as `stsguard check` arguments.
 * @returns {{ args: string[]; output: string; sarifFile: string | null }}
 */
function readInputs() {
  const paths = readInput("paths").split(/\s+/).filter(Boolean);
  const args = paths.length > 0 ? paths : ["."];
  const options = [];
  const config = readInput("config");
  if (config) options.push("--config", config);
  const namespace = readInput("namespace");
  if (namespace) options.push("--namespace", namespace);
  const kubeVersion = readInput("kube-version");
  if (kubeVersion) options.push("--kube-version", kubeVersion);
  if (readBoolean("strict")) options.push("--strict");
  const sarifFile = readBoolean("upload-sarif")
    ? readInput("sarif-file") || "stsguard.sarif"
    : null;
  return { args: [...options, "--", ...args], output: readInput("output") || "github", sarifFile };
}

/**
 * @param {string} command
 * @param {string[]} args
 * @param {string} cwd
 */
function runOrFail(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) {
    throw new Error(
      `${[command, ...args].join(" ")} failed in ${cwd} (exit ${String(result.status)})`,
    );
  }
}

/**
 * dist/cli.js of the action's checkout, built first when missing: the production dependencies
 * from the lockfile, then the locked TypeScript (in the runner's temp directory, not among them)
 * compiling with --noCheck. Type checking is CI's business; with isolatedModules each file
 * compiles on its own, so the output is the same as `npm run build`'s without the type packages.
 * @param {string} root
 */
function ensureCli(root) {
  const cli = path.join(root, "dist", "cli.js");
  if (existsSync(cli)) return cli;
  console.log("::group::stsguard: install and build");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const quiet = ["--ignore-scripts", "--no-audit", "--no-fund"];
  runOrFail(npm, ["ci", "--omit=dev", ...quiet], root);
  const tools = path.join(process.env["RUNNER_TEMP"] || os.tmpdir(), "stsguard-build-tools");
  const typescript = `typescript@${readLockedVersion(root, "typescript")}`;
  runOrFail(npm, ["install", "--prefix", tools, ...quiet, typescript], root);
  const tsc = path.join(tools, "node_modules", "typescript", "bin", "tsc");
  runOrFail(process.execPath, [tsc, "-p", "tsconfig.build.json", "--noCheck"], root);
  console.log("::endgroup::");
  return cli;
}

/**
 * @param {string} root
 * @param {string} name
 * @returns {string}
 */
function readLockedVersion(root, name) {
  const lock = readFileSync(path.join(root, "package-lock.json"), "utf8");
  const entry = new RegExp(`"node_modules/${name}": \\{\\s*"version": "([^"]+)"`).exec(lock);
  if (!entry?.[1]) throw new Error(`package-lock.json has no ${name}`);
  return entry[1];
}

/**
 * Runs the CLI; its standard output goes to `stdout` ("inherit": the job log).
 * @param {string} cli
 * @param {string[]} args
 * @param {string} cwd
 * @param {"inherit" | "pipe"} stdout
 * @returns {Promise<{ code: number; text: string }>}
 */
function runCheck(cli, args, cwd, stdout) {
  const child = spawn(process.execPath, [cli, "check", ...args], {
    cwd,
    stdio: ["ignore", stdout, "inherit"],
  });
  const chunks = [];
  child.stdout?.on("data", (chunk) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code: code ?? EXIT_USAGE, text: Buffer.concat(chunks).toString("utf8") });
    });
  });
}

/** @param {Record<string, string>} outputs */
function setOutputs(outputs) {
  const file = process.env["GITHUB_OUTPUT"];
  const lines = Object.entries(outputs).map(([key, value]) => `${key}=${value}\n`);
  if (file) appendFileSync(file, lines.join(""));
}

/**
 * Written beside its target, then renamed: code scanning never uploads half a file.
 * @param {string} file
 * @param {string} text
 */
function writeAtomically(file, text) {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

async function main() {
  const root =
    process.env["GITHUB_ACTION_PATH"] ||
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const workspace = process.env["GITHUB_WORKSPACE"] || process.cwd();
  let inputs;
  try {
    inputs = readInputs();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    console.log(`::error title=stsguard::${error.message}`);
    setOutputs({ "exit-code": String(EXIT_USAGE) });
    return EXIT_USAGE;
  }
  const cli = ensureCli(root);
  const outputs = {};
  if (inputs.sarifFile !== null) {
    const sarif = await runCheck(cli, ["--output", "sarif", ...inputs.args], workspace, "pipe");
    if (sarif.text.trim() !== "") {
      writeAtomically(path.resolve(workspace, inputs.sarifFile), sarif.text);
      outputs["sarif-file"] = inputs.sarifFile;
    }
  }
  const check = await runCheck(
    cli,
    ["--output", inputs.output, ...inputs.args],
    workspace,
    "inherit",
  );
  setOutputs({ ...outputs, "exit-code": String(check.code) });
  return check.code;
}

process.exitCode = await main();
