// The pass pipeline: one flat list of named passes, so any stage can be dumped or verified.
// Each fusion pass is a rule table run by the rewrite engine (rewrite.ts): one sweep each.
import type { Graph } from "../ir.js";
import type { InferenceGraph } from "../inference.js";
import { foldBnRules } from "./fold-bn.js";
import { fromGraph } from "./from-graph.js";
import {
  fuseAddReluRules,
  fuseReluRules,
  fuseResidualReluRules,
  fuseResidualRules,
} from "./fuse-epilogue.js";
import { rewrite, type Rule } from "./rewrite.js";

export const passes: readonly {
  readonly name: string;
  readonly rules: readonly Rule[];
  readonly run: (g: InferenceGraph) => InferenceGraph;
}[] = (
  [
    ["fold-bn", foldBnRules],
    ["fuse-relu", fuseReluRules],
    ["fuse-residual", fuseResidualRules],
    ["fuse-residual-relu", fuseResidualReluRules],
    ["fuse-add-relu", fuseAddReluRules],
  ] as const
).map(([name, rules]) => ({ name, rules, run: (g: InferenceGraph) => rewrite(g, rules).graph }));

/** Every stage `lower` reports, in order: "from-graph", then each pass. */
export const passNames: readonly string[] = ["from-graph", ...passes.map((p) => p.name)];

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
