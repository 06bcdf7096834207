// One way to run a model, on any platform: a plan, or a checked graph compiled here for the
// device, with weights and a GPUDevice; a session that runs inferences and profiles them.
// Portable: no `node:` import; Node and browsers get their device from node.ts and browser.ts.
import { compileGraph } from "../compiler/compile.js";
import type { Graph } from "../compiler/ir.js";
import type { KernelLimits } from "../compiler/kernels/common.js";
import { precisions, type Precision } from "../compiler/kernels/format.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import { tuningFor, type Tuning } from "../compiler/kernels/tuning.js";
import type { Plan } from "../compiler/plan.js";
import { kernelLimits } from "./device.js";
import { createPlanSession, type Session, type SessionWeights } from "./plan-session.js";

export type {
  ClipFrames,
  ClipInput,
  DispatchTimes,
  Outputs,
  Session,
  SessionWeights,
} from "./plan-session.js";

/** What to run: a compiled plan, or a checked graph to compile for the device. */
export type ModelSource =
  | { readonly plan: Plan; readonly graph?: undefined }
  | {
      readonly graph: Graph;
      readonly plan?: undefined;
      /** The kernel choices; default: the adapter class's (tuningFor). */
      readonly tuning?: Tuning;
      /** Tighter limits than the device's, e.g. a tiny grid to force folding. */
      readonly limits?: Partial<KernelLimits>;
      /** How activations and weights are stored; default float32. */
      readonly precision?: Precision;
    };

export type SessionOptions = ModelSource & {
  readonly weights: SessionWeights;
  readonly device: GPUDevice;
};

/** The plan of `source` for `device`: as given, or compiled for the device's limits. */
export function planFor(source: ModelSource, device: GPUDevice): Plan {
  if (source.plan) return source.plan;
  const limits = { ...kernelLimits(device), ...source.limits };
  const tuning = source.tuning ?? tuningFor(device.adapterInfo ?? {});
  const precision = source.precision ?? "f32";
  // A JavaScript caller's typo must not quietly choose halves.
  if (!precisions.includes(precision))
    throw new CsncError(
      RuntimeCodes.badInput,
      `precision must be one of ${precisions.join(", ")}, got '${String(precision)}'`,
    );
  return compileGraph(source.graph, limits, tuning, { precision });
}

/** A session on `device`; a graph too large for it throws the planner's PlanError. */
export async function createSession(options: SessionOptions): Promise<Session> {
  const start = performance.now();
  const plan = planFor(options, options.device);
  const compileMs = options.plan ? 0 : performance.now() - start;
  const session = await createPlanSession({
    plan,
    weights: options.weights,
    device: options.device,
  });
  return { ...session, setup: { ...session.setup, compileMs } };
}
