#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { StorageError, UnreachableError, UserError } from "../config/errors.js";
import { VERSION } from "../version.js";
import { registerBatch } from "./commands/batch.js";
import { registerDemo } from "./commands/demo.js";
import { registerImport } from "./commands/import.js";
import { registerInfo } from "./commands/info.js";
import { registerMonitor } from "./commands/monitor.js";
import { registerPredict } from "./commands/predict.js";
import { registerSampleData } from "./commands/sample-data.js";
import { registerRegistryCommands } from "./commands/registry.js";
import { registerRegistryServer } from "./commands/registry-server.js";
import { registerServe } from "./commands/serve.js";
import { registerStream } from "./commands/stream.js";
import { registerTrain } from "./commands/train.js";
import { registerUi } from "./commands/ui.js";

export function buildProgram(): Command {
  const program = new Command("mldeploy")
    .description(
      "Take a trained model (ONNX, or scikit-learn/XGBoost from Python) to production: web service, batch scoring and stream consumer",
    )
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    // Options belong to the command they follow, so a subcommand may reuse its parent's option
    // names (`batch merge --sink`); set before the commands are added, which inherit it.
    .enablePositionalOptions()
    // Errors reach main() (and its exit codes) from every subcommand, not process.exit().
    .exitOverride();
  registerDemo(program);
  registerSampleData(program);
  registerTrain(program);
  registerImport(program);
  registerServe(program);
  registerBatch(program);
  registerStream(program);
  registerMonitor(program);
  registerPredict(program);
  registerInfo(program);
  registerRegistryCommands(program);
  registerRegistryServer(program);
  registerUi(program);
  return program;
}

// `mldeploy runs list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeFor(error);
  }
}

/** A user mistake prints one line; anything else is a bug and prints its stack. */
function exitCodeFor(error: unknown): number {
  // Commander has printed its message (and the --help hint) already. A usage mistake (unknown
  // option, missing argument) exits 2 like every other user mistake; --help and --version 0.
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof UserError) {
    process.stderr.write(`mldeploy: error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof UnreachableError || error instanceof StorageError) {
    process.stderr.write(`mldeploy: error: ${error.message}\n`);
    return 1;
  }
  const refused = listenRefusal(error);
  if (refused !== undefined) {
    process.stderr.write(`mldeploy: error: ${refused}\n`);
    return 2;
  }
  process.stderr.write(
    `mldeploy: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}

/** A port that cannot be bound (taken, or privileged) is a setting to change, not a bug. */
function listenRefusal(error: unknown): string | undefined {
  const { code, syscall, address, port } = error as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
  };
  // "bind" is how a cluster worker's listen on the primary's handle fails.
  if (syscall !== "listen" && syscall !== "bind") return undefined;
  const where = `${address ?? ""}:${port ?? ""}`;
  const why: Record<string, string> = {
    EADDRINUSE: "the port is already in use",
    EACCES: "permission denied (ports below 1024 need privileges)",
    EADDRNOTAVAIL: "no such address on this machine",
  };
  if (code === undefined || why[code] === undefined) return undefined;
  return `cannot listen on ${where}: ${why[code]}; choose another port or host`;
}

await main(process.argv);
