// The compiler's front door: a .csn file in, checked graphs and diagnostics out. Never throws
// for bad input; every problem comes back as a diagnostic.
import {
  capDiagnostics,
  Codes,
  error,
  isStackOverflow,
  type Diagnostic,
  type Program,
} from "../grammar/index.js";
import { elaborate, type ElaborateOptions } from "./elaborate/index.js";
import { CompileError } from "./evaluate.js";
import type { Graph } from "./ir.js";
import { buildLibrary } from "./resolve.js";
import { loadProgram, type SourceHost } from "./source.js";

export type { Graph, Node, Op, Shape } from "./ir.js";
export { formatShape } from "./ir.js";
export type { Value } from "./values.js";
export type { ElaborateOptions } from "./elaborate/index.js";

export interface CheckOptions extends ElaborateOptions {
  /** Which model of the file to build; default: every model in it. */
  readonly model?: string;
}

export interface CheckResult {
  readonly sources: ReadonlyMap<string, string>;
  readonly diagnostics: readonly Diagnostic[];
  /** One graph per model built; empty when errors stopped it. */
  readonly graphs: readonly Graph[];
  /** The entry file's parsed program, when it parsed. */
  readonly program?: Program;
}

/** Checks `entry` and its imports; at most 50 diagnostics per file come back, then a count. */
export function checkFile(
  entry: string,
  root: string,
  host: SourceHost,
  options: CheckOptions = {},
): CheckResult {
  const r = check(entry, root, host, options);
  return { ...r, diagnostics: capDiagnostics(r.diagnostics) };
}

function check(entry: string, root: string, host: SourceHost, options: CheckOptions): CheckResult {
  const loaded = loadProgram(entry, root, host);
  const program = loaded.programs[0];
  if (loaded.diagnostics.length > 0)
    return { sources: loaded.sources, diagnostics: loaded.diagnostics, graphs: [], program };
  const { library, diagnostics } = buildLibrary(loaded.programs);
  if (diagnostics.length > 0) return { sources: loaded.sources, diagnostics, graphs: [], program };
  let models = program!.models;
  if (options.model !== undefined) {
    models = models.filter((m) => m.name === options.model);
    if (models.length === 0) {
      const names = program!.models.map((m) => m.name).join(", ") || "none";
      return {
        sources: loaded.sources,
        diagnostics: [
          error(
            Codes.noModel,
            `no model '${options.model}' in ${host.display(entry)} (models: ${names})`,
          ),
        ],
        graphs: [],
        program,
      };
    }
  }
  const graphs: Graph[] = [];
  const errors: Diagnostic[] = [];
  for (const model of models) {
    try {
      graphs.push(elaborate(model, library, options));
    } catch (e) {
      if (e instanceof CompileError) errors.push(e.diagnostic);
      // The nesting limits should make this unreachable; a smaller stack than Node's default
      // still must not turn a deep model into a crash.
      else if (isStackOverflow(e))
        errors.push(
          error(
            Codes.nestingTooDeep,
            `model '${model.name}' nests too deeply to build`,
            model.nameSpan,
          ),
        );
      else throw e;
    }
  }
  return {
    sources: loaded.sources,
    diagnostics: errors,
    graphs: errors.length ? [] : graphs,
    program,
  };
}
