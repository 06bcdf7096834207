// `csnc lsp --stdio`: the language server (cli/lsp/server.ts) on standard input and output.
// Standard output carries the protocol and nothing else: anything printed by accident goes
// to standard error instead.
import { Command } from "commander";
import { startServer } from "./lsp/server.js";
import { UsageError } from "./options.js";

export function lspCommand(): Command {
  return new Command("lsp")
    .description("run the language server (LSP 3.17) for editors, over standard input and output")
    .option("--stdio", "speak the protocol over standard input and output (the only transport)")
    .action(async (opts: { stdio?: boolean }) => {
      if (!opts.stdio) throw new UsageError("csnc lsp needs --stdio (the only transport)");
      // A stray console.log would corrupt the protocol stream.
      console.log = console.error;
      console.info = console.error;
      // A failure outside a request must not take the editor's server down with it.
      process.on("uncaughtException", (e) => console.error(`csnc lsp: ${e.stack ?? e.message}`));
      process.on("unhandledRejection", (e) => console.error(`csnc lsp: ${String(e)}`));
      await startServer({ input: process.stdin, output: process.stdout });
    });
}
