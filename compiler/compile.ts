// Checked graph -> executable plan for a device's limits: the pass pipeline, then planning.
import type { Graph } from "./ir.js";
import { verify, type InferenceGraph } from "./inference.js";
import type { KernelLimits } from "./kernels/common.js";
import { lower } from "./passes/index.js";
import { buildPlan, type Plan } from "./plan.js";
import type { Tuning } from "./kernels/tuning.js";
import type { Precision } from "./kernels/format.js";

export { formatGraph, verify, type InferenceGraph } from "./inference.js";
export { lower, passNames } from "./passes/index.js";

export interface CompileOptions {
  /** Called with each stage's graph ("from-graph", then every pass), e.g. for `--dump-after`. */
  readonly onPass?: (name: string, graph: InferenceGraph) => void;
  /** Debug: run `verify` after every stage and throw on the first ill-formed graph (linear). */
  readonly verify?: boolean;
  /** How activations and weights are stored; default float32. */
  readonly precision?: Precision;
}

export function compileGraph(
  graph: Graph,
  limits: KernelLimits,
  tuning: Tuning = {},
  options: CompileOptions = {},
): Plan {
  const { onPass, verify: check } = options;
  const after =
    check || onPass
      ? (name: string, g: InferenceGraph) => {
          if (check) {
            const problems = verify(g);
            if (problems.length)
              throw new Error(
                `csnc bug: the graph after ${name} is ill-formed: ${problems.join("; ")}`,
              );
          }
          onPass?.(name, g);
        }
      : undefined;
  return buildPlan(lower(graph, after), limits, tuning, options.precision);
}
