#!/usr/bin/env node
// The `csnc` executable: runs the CLI on this process's arguments.
import { plainReason } from "./io.js";
import { main } from "./main.js";

// A standard stream that cannot be written ends the run with a message, not a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0); // the reader left (| head)
    if (stream === process.stdout)
      process.stderr.write(`csnc: error: cannot write standard output: ${plainReason(e.code)}\n`);
    process.exit(1);
  });

process.exitCode = await main(process.argv.slice(2));
