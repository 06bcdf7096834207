// `csnc check FILE...`: parse, resolve and shape-check each file; exit 1 if any fails.
import { Command } from "commander";
import * as path from "node:path";
import { diagnosticToJson, formatDiagnostic, printable } from "../grammar/index.js";
import { checkFile, formatShape } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { modelOptions, toCheckOptions, type ModelOptions } from "./options.js";
import type { CliIo } from "./io.js";

export function checkCommand(io: CliIo): Command {
  const cmd = new Command("check")
    .description("check .csn files: syntax, names, types and every tensor shape")
    .argument("<files...>", ".csn files (library files without a model are checked too)")
    .option("--json", "print the result as JSON");
  for (const o of modelOptions) cmd.addOption(o);
  return cmd.action((files: string[], opts: ModelOptions) => {
    const options = toCheckOptions(opts);
    const results = files.map((file) => {
      const abs = path.resolve(file);
      const r = checkFile(abs, projectRoot(abs), nodeHost, options);
      return { file, r };
    });
    const failed = results.filter(({ r }) => r.diagnostics.length > 0).length;
    if (opts.json) {
      io.out(
        JSON.stringify(
          {
            ok: failed === 0,
            files: results.map(({ file, r }) => ({
              file,
              ok: r.diagnostics.length === 0,
              models: r.graphs.map((g) => ({
                name: g.model,
                layers: g.nodes.length - 1,
                input: g.nodes[0]!.shape,
                output: g.nodes[g.output]!.shape,
              })),
              diagnostics: r.diagnostics.map((d) => diagnosticToJson(d, r.sources)),
            })),
          },
          null,
          2,
        ),
      );
    } else {
      for (const { file, r } of results) {
        if (r.diagnostics.length > 0) {
          for (const d of r.diagnostics) io.err(formatDiagnostic(d, r.sources));
          continue;
        }
        const what = r.graphs.length
          ? r.graphs
              .map(
                (g) =>
                  `${g.model}: ${g.nodes.length - 1} layers, ${formatShape(g.nodes[0]!.shape)} -> ${formatShape(g.nodes[g.output]!.shape)}`,
              )
              .join("; ")
          : `library, ${r.program?.blocks.length ?? 0} blocks`;
        io.out(`ok  ${printable(file)}  (${what})`); // a file name may hold terminal escapes
      }
      if (failed > 0) io.err(`${failed} of ${files.length} file(s) failed`);
    }
    io.exitCode(failed > 0 ? 1 : 0);
  });
}
