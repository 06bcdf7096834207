// Elaboration: runs a model's body with concrete parameter values and produces the graph IR,
// one node per layer, inferring every shape on the way. The pieces: parameter binding
// (`params.ts`), the statement walk (`walk.ts`) over the graph being built (`builder.ts`, with
// path naming in `paths.ts`), residual shortcut inference (`residual.ts`) and the typed
// layer word -> op conversion (`layer-ops.ts`, reading `args.ts`).
import { Codes, error, type BlockDecl } from "../../grammar/index.js";
import { CompileError } from "../evaluate.js";
import type { Graph } from "../ir.js";
import type { Library } from "../resolve.js";
import type { Value } from "../values.js";
import { GraphBuilder } from "./builder.js";
import { LocalScope } from "./context.js";
import { bindModelParams, declParams } from "./params.js";
import { Walker } from "./walk.js";

export interface ElaborateOptions {
  /** Parameter overrides (`--set k=v`), already parsed. */
  readonly set?: ReadonlyMap<string, Value>;
  /** Replaces the declared input: C, T, H, W. */
  readonly input?: readonly [number, number, number, number];
  readonly batch?: number;
}

export function elaborate(
  model: BlockDecl,
  library: Library,
  options: ElaborateOptions = {},
): Graph {
  const params = declParams(model, library.enums);
  const scope = bindModelParams(model, params, options.set ?? new Map());
  const graph = new GraphBuilder(options.batch ?? 1);
  const walker = new Walker(graph, library, options.input);
  const hasInputStmt = model.body.some((s) => s.kind === "input");
  if (!hasInputStmt && !options.input) {
    throw new CompileError(
      error(Codes.missingInput, `model '${model.name}' declares no input`, model.nameSpan, {
        hint: "add a line such as 'input 3x16x112x112' to the model, or pass --input CxTxHxW",
      }),
    );
  }
  if (!hasInputStmt) graph.makeInput(options.input!, model.nameSpan);
  walker.body(model.body, {
    scope: new LocalScope(undefined, scope),
    prefix: [],
    origin: [],
    inModel: true,
  });
  if (graph.current === undefined) {
    throw new CompileError(
      error(Codes.badValue, `model '${model.name}' has no layers`, model.nameSpan),
    );
  }
  return {
    model: model.name,
    file: model.span.file,
    params: Object.fromEntries(params.map((p) => [p.name, scope.get(p.name)!])),
    ...(walker.fileInput ? { declaredInput: walker.fileInput } : {}),
    nodes: graph.nodes,
    output: graph.current,
  };
}
