#!/usr/bin/env node
/**
 * The `kubectl-stsguard` bin: kubectl finds it on PATH and runs `kubectl stsguard <args>` through
 * it (kubectl's plugin mechanism). The same CLI as `stsguard`; usage and help say `kubectl stsguard`.
 */
import { processIo, runCli } from "./cli/run.js";

process.exitCode = await runCli(process.argv.slice(2), processIo(), "kubectl stsguard");
