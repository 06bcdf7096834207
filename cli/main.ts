// csnc: the command-line entry. Exit codes: 0 success, 1 bad input or a failed check,
// 2 a usage error, 70 an internal error (a bug in csnc).
import { Command, CommanderError } from "commander";
import { checkCommand } from "./check.js";
import { OutputError, processIo, type CliIo } from "./io.js";
import { UsageError } from "./options.js";
import { statsCommand } from "./stats.js";
import { compileCommand } from "./compile.js";
import { exportCommand } from "./export.js";
import { runCommand } from "./run.js";
import { profileCommand } from "./profile.js";
import { importCommand } from "./import.js";
import { classifyCommand } from "./classify.js";
import { weightsCommand } from "./weights.js";
import { tuneCommand } from "./tune.js";
import { fmtCommand } from "./fmt.js";
import { lspCommand } from "./lsp.js";
import { queueCommand } from "./queue.js";
import { workerCommand } from "./worker.js";
import { dataCommand } from "./data.js";
import { gradCommand } from "./grad.js";
import { trainCommand } from "./train.js";
import { CsncError } from "../runtime/errors.js";

export function buildProgram(io: CliIo): Command {
  const program = new Command("csnc")
    .description(
      "compiler and WebGPU runtime for Channel-Separated Convolutional Networks (.csn files)",
    )
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    // Read by bin.ts before parsing: WebGPU commands then run in-process, native logs shown.
    .option("--verbose", "show the WebGPU drivers' native warnings (hidden by default)");
  program.addCommand(checkCommand(io));
  program.addCommand(statsCommand(io));
  program.addCommand(compileCommand(io));
  program.addCommand(runCommand(io));
  program.addCommand(profileCommand(io));
  program.addCommand(exportCommand(io));
  program.addCommand(importCommand(io));
  program.addCommand(classifyCommand(io));
  program.addCommand(weightsCommand(io));
  program.addCommand(tuneCommand(io));
  program.addCommand(fmtCommand(io));
  program.addCommand(lspCommand());
  program.addCommand(queueCommand(io));
  program.addCommand(workerCommand(io));
  program.addCommand(dataCommand(io));
  program.addCommand(gradCommand(io));
  program.addCommand(trainCommand(io));
  const route = (cmd: Command) => {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      // commander's own "error: ..." lines, in the form of every other csnc error.
      writeErr: (s) => io.err(s.trimEnd().replace(/^error: /, "csnc: error: ")),
    });
    cmd.commands.forEach(route);
  };
  route(program);
  return program;
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let code = 0;
  const program = buildProgram({ ...io, exitCode: (c) => (code = c) });
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here with code 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof CsncError) {
      io.err(`csnc: error: ${e.message} [CSN${e.code}]`);
      return 1;
    }
    if (e instanceof UsageError) {
      io.err(`csnc: error: ${e.message}`);
      return 2;
    }
    if (e instanceof OutputError) {
      io.err(`csnc: error: ${e.message}`);
      return 1;
    }
    // A file-system error no command turned into a message still names its file: bad input, not a bug.
    const errno = e as NodeJS.ErrnoException;
    if (e instanceof Error && typeof errno.code === "string" && errno.path !== undefined) {
      io.err(`csnc: error: ${errno.path}: ${e.message.replace(/^E[A-Z]+: |, \w+ '.*'$/g, "")}`);
      return 1;
    }
    io.err(`csnc: internal error: ${(e as Error)?.message ?? String(e)}`);
    if (process.env.CSNC_DEBUG) io.err((e as Error)?.stack ?? "");
    else io.err("this is a bug in csnc; rerun with CSNC_DEBUG=1 for details and please report it");
    return 70;
  }
}
