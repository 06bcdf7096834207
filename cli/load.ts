// The first step of every command that works on one model: check the file and pick its model.
import * as path from "node:path";
import { printable } from "../grammar/index.js";
import { checkFile, type CheckOptions, type Graph } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import type { CliIo } from "./io.js";
import { UsageError } from "./options.js";
import { reportDiagnostics } from "./report.js";

/** The checked model of `file`; undefined (exit code 1 set) after reporting its diagnostics. */
export function loadModel(
  io: CliIo,
  file: string,
  options: CheckOptions,
  json?: boolean,
): Graph | undefined {
  const abs = path.resolve(file);
  const r = checkFile(abs, projectRoot(abs), nodeHost, options);
  if (r.diagnostics.length > 0) {
    reportDiagnostics(io, r, json);
    io.exitCode(1);
    return undefined;
  }
  const name = printable(file); // a file name may hold terminal escapes
  if (r.graphs.length === 0)
    throw new UsageError(`${name} defines no model (it is a block library)`);
  if (r.graphs.length > 1)
    throw new UsageError(`${name} defines ${r.graphs.length} models: pick one with --model`);
  return r.graphs[0]!;
}
