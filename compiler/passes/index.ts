// The pass pipeline: one flat list of named passes, so any stage can be dumped or verified.
import type { Graph } from "../ir.js";
import type { InferenceGraph } from "../inference.js";
import { foldBn } from "./fold-bn.js";
import { fromGraph } from "./from-graph.js";
import { fuseAddRelu, fuseRelu, fuseResidual, fuseResidualRelu } from "./fuse-epilogue.js";

export const passes: readonly {
  readonly name: string;
  readonly run: (g: InferenceGraph) => InferenceGraph;
}[] = [
  { name: "fold-bn", run: foldBn },
  { name: "fuse-relu", run: fuseRelu },
  { name: "fuse-residual", run: fuseResidual },
  { name: "fuse-residual-relu", run: fuseResidualRelu },
  { name: "fuse-add-relu", run: fuseAddRelu },
];

/** Lowers a checked graph through every pass; `after` sees each intermediate graph. */
export function lower(
  graph: Graph,
  after?: (pass: string, g: InferenceGraph) => void,
): InferenceGraph {
  let g = fromGraph(graph);
  after?.("from-graph", g);
  for (const pass of passes) {
    g = pass.run(g);
    after?.(pass.name, g);
  }
  return g;
}
