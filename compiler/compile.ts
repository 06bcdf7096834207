// Checked graph -> executable plan for a device's limits: the pass pipeline, then planning.
import type { Graph } from "./ir.js";
import type { KernelLimits } from "./kernels/common.js";
import { lower } from "./passes/index.js";
import { buildPlan, type Plan } from "./plan.js";
import type { Tuning } from "./kernels/select.js";

export function compileGraph(graph: Graph, limits: KernelLimits, tuning: Tuning = {}): Plan {
  return buildPlan(lower(graph), limits, tuning);
}
