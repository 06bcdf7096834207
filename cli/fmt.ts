// `csnc fmt FILE|DIR... [--check]`: rewrites .csn files in place to the canonical layout
// (grammar/format.ts); `--check` writes nothing and lists the files that would change. Exit 1
// when a file would change (--check), has errors or cannot be read or written.
import { Command } from "commander";
import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import * as path from "node:path";
import { formatDiagnostic, printable } from "../grammar/index.js";
import { formatSource } from "../grammar/format.js";
import { nodeHost } from "../compiler/node-host.js";
import { plainReason, writeOutput, type CliIo } from "./io.js";

interface FmtOptions {
  check?: boolean;
}

/** Folders never searched for .csn files. */
const skipped = new Set(["node_modules", "dist"]);

/** The .csn files under `dir`, sorted; links and hidden folders are not followed. */
function csnFiles(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const file = path.join(dir, e.name);
    if (e.isDirectory() && !e.name.startsWith(".") && !skipped.has(e.name)) csnFiles(file, out);
    else if (e.isFile() && e.name.endsWith(".csn")) out.push(file);
  }
}

/** What the user named, as files to format; problems as messages. */
function collect(args: readonly string[]): { files: string[]; problems: string[] } {
  const files: string[] = [];
  const problems: string[] = [];
  for (const arg of args) {
    const shown = printable(arg);
    let st;
    try {
      st = statSync(arg);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      let link = false;
      try {
        link = lstatSync(arg).isSymbolicLink();
      } catch {
        // missing altogether
      }
      problems.push(
        `cannot read ${shown}: ${code === "ENOENT" ? (link ? "it is a broken symbolic link" : "no such file or folder") : plainReason(code)}`,
      );
      continue;
    }
    if (st.isDirectory()) {
      try {
        csnFiles(arg, files);
      } catch (e) {
        problems.push(`cannot read ${shown}: ${plainReason((e as NodeJS.ErrnoException).code)}`);
      }
    } else if (st.isFile()) files.push(arg);
    else problems.push(`cannot read ${shown}: it is not a regular file`);
  }
  return { files, problems };
}

export function fmtCommand(io: CliIo): Command {
  return new Command("fmt")
    .description("format .csn files in place to the canonical layout (comments kept)")
    .argument("<paths...>", ".csn files, or folders to search for them")
    .option("--check", "write nothing; list the files that would change and exit 1 if any")
    .action((args: string[], opts: FmtOptions) => {
      const { files, problems } = collect(args);
      for (const p of problems) io.err(`csnc: error: ${p}`);
      let failed = problems.length > 0;
      let changed = 0;
      for (const file of files) {
        const shown = printable(file);
        // Read as `csnc check` reads sources: the same size limit and reasons.
        const text = nodeHost.read(file);
        if (text === undefined) {
          const why = nodeHost.unreadable?.(file).reason ?? "it cannot be read";
          io.err(`csnc: error: cannot read ${shown}: ${why}`);
          failed = true;
          continue;
        }
        const r = formatSource(text, file);
        if (r.text === undefined) {
          const sources = new Map([[file, text]]);
          for (const d of r.diagnostics) io.err(formatDiagnostic(d, sources));
          failed = true;
          continue;
        }
        if (r.text === text) continue;
        changed++;
        if (opts.check) {
          io.out(shown);
          continue;
        }
        // Rewriting through a link would change a file the user did not name.
        if (lstatSync(file).isSymbolicLink()) {
          io.err(
            `csnc: error: ${shown} is a symbolic link; format the file it points to (${printable(realpathSync(file))})`,
          );
          failed = true;
          continue;
        }
        writeOutput(file, r.text);
        io.out(`formatted ${shown}`);
      }
      if (opts.check && changed > 0)
        io.err(`${changed} of ${files.length} file(s) not formatted: run csnc fmt on them`);
      io.exitCode(failed || (opts.check && changed > 0) ? 1 : 0);
    });
}
