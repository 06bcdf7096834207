// Checked graph -> executable plan for a device's limits: the pass pipeline, then planning.
import type { Graph } from "./ir.js";
import type { InferenceGraph } from "./inference.js";
import type { KernelLimits } from "./kernels/common.js";
import { lower } from "./passes/index.js";
import { buildPlan, type Plan } from "./plan.js";
import type { Tuning } from "./kernels/select.js";

export { formatGraph, verify, type InferenceGraph } from "./inference.js";
export { lower, passNames } from "./passes/index.js";

export interface CompileOptions {
  /** Called with each stage's graph ("from-graph", then every pass), e.g. for `--dump-after`. */
  readonly onPass?: (name: string, graph: InferenceGraph) => void;
}

export function compileGraph(
  graph: Graph,
  limits: KernelLimits,
  tuning: Tuning = {},
  options: CompileOptions = {},
): Plan {
  return buildPlan(lower(graph, options.onPass), limits, tuning);
}
