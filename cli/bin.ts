#!/usr/bin/env node
// The `csnc` executable: runs the CLI on this process's arguments. Commands that open a WebGPU
// adapter run in a child whose stderr is filtered of Dawn's native warnings (quiet-native.ts).
import { plainReason } from "./io.js";
import { adoptParentTerminal, runFiltered, wantsFilteredChild } from "./quiet-native.js";

// A standard stream that cannot be written ends the run with a message, not a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0); // the reader left (| head)
    if (stream === process.stdout)
      process.stderr.write(`csnc: error: cannot write standard output: ${plainReason(e.code)}\n`);
    process.exit(1);
  });

const argv = process.argv.slice(2);
if (wantsFilteredChild(argv)) {
  process.exitCode = await runFiltered(argv, import.meta.url);
} else {
  adoptParentTerminal();
  const { main } = await import("./main.js");
  process.exitCode = await main(argv);
}
