// The session core: a compiled plan, weights and a GPUDevice in; inferences and profiles out.
// Without the compiler, so that generated modules (which embed their plan) carry none of it;
// session.ts adds compiling a graph for the device.
import type { Plan } from "../compiler/plan.js";
import { createExecutor, type DispatchTimes, type Executor, type Outputs } from "./executor.js";
import type { Naming } from "./naming.js";
import type { Tensor } from "./safetensors.js";
import { packWeights, randomTensors } from "./weights.js";

export type { DispatchTimes, Outputs };

/** Weights by name (a file's, as readWeights gives them), or He-normal random ones. */
export type SessionWeights =
  | {
      readonly tensors: ReadonlyMap<string, Tensor>;
      readonly naming: Naming;
      /** Named in errors about the tensors: a file name. */
      readonly source?: string;
    }
  /** As `csnc run` without --weights: the same seed gives the same numbers. */
  | { readonly random: number };

export interface Session {
  readonly plan: Plan;
  /** The weights as named tensors (the random ones made, or those given). */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** Milliseconds spent compiling the graph (0 for a plan), creating buffers and uploading weights, and compiling pipelines. */
  readonly setup: Executor["setup"] & { readonly compileMs: number };
  /** One inference on an N x C x T x H x W float32 input, as compiled. */
  run(input: Float32Array): Promise<Outputs>;
  /** Times each dispatch on its own (after a run has set the input). */
  profile(): Promise<DispatchTimes>;
  /** Frees the session's buffers and pipelines; the device stays its owner's. */
  destroy(): void;
}

export interface PlanSessionOptions {
  readonly plan: Plan;
  readonly weights: SessionWeights;
  readonly device: GPUDevice;
}

/** Packs the weights in the plan's layouts (a CsncError names a wrong tensor) and uploads them. */
export async function createPlanSession(o: PlanSessionOptions): Promise<Session> {
  const { plan, weights } = o;
  const random = "random" in weights;
  const tensors = random ? randomTensors(plan, weights.random) : weights.tensors;
  const packed = random
    ? packWeights(plan, tensors, "csnc", "random weights")
    : packWeights(plan, tensors, weights.naming, weights.source ?? "weights");
  const executor = await createExecutor(o.device, plan, packed);
  return {
    plan,
    tensors,
    setup: { ...executor.setup, compileMs: 0 },
    run: (input) => executor.run(input),
    profile: () => executor.timeDispatches(),
    destroy: () => executor.destroy(),
  };
}
