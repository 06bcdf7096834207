// The session core: a compiled plan, weights and a GPUDevice in; inferences and profiles out.
// Without the compiler, so that generated modules (which embed their plan) carry none of it;
// session.ts adds compiling a graph for the device.
import { checkPrecision } from "./device.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import type { Plan } from "../compiler/plan.js";
import {
  createExecutor,
  type ClipFrames,
  type ClipInput,
  type DispatchTimes,
  type Executor,
  type Outputs,
} from "./executor.js";
import { namings, type Naming } from "./naming.js";
import type { Tensor } from "./safetensors.js";
import { packWeights, randomTensors } from "./weights.js";

export type { ClipFrames, ClipInput, DispatchTimes, Outputs };

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
  /**
   * One inference on an N x C x T x H x W float32 input, as compiled; or on decoded frames
   * (N x T x H x W x 3 bytes), normalised on the GPU with a quarter of the bytes uploaded.
   */
  run(input: ClipInput): Promise<Outputs>;
  /**
   * Inferences on many inputs (each as `run` takes it), in order, pipelined: the upload of clip
   * k + 1 and the readback of clip k - 1 overlap the compute of clip k. `each` sees each clip's
   * outputs as they arrive. An async iterable lets the caller decode the next clip meanwhile.
   */
  runMany(
    inputs: Iterable<ClipInput> | AsyncIterable<ClipInput>,
    each?: (outputs: Outputs, index: number) => void,
  ): Promise<Outputs[]>;
  /** Times each dispatch on its own (after a run has set the input). */
  profile(): Promise<DispatchTimes>;
  /** Frees the session's buffers and pipelines; the device stays its owner's. */
  destroy(): void;
}

/** Weights checked against a plan and packed in its layouts, ready to upload. */
export interface PackedWeights {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly packed: readonly Float32Array[];
}

/** Checks the weights against the plan and packs them (a CsncError names a wrong tensor); no device needed. */
export function packSessionWeights(plan: Plan, weights: SessionWeights): PackedWeights {
  checkWeightsArgument(weights);
  if ("random" in weights) {
    const tensors = randomTensors(plan, weights.random);
    return { tensors, packed: packWeights(plan, tensors, "csnc", "random weights") };
  }
  const source = weights.source ?? "weights";
  return {
    tensors: weights.tensors,
    packed: packWeights(plan, weights.tensors, weights.naming, source),
  };
}

/** A JavaScript caller's `weights` of the wrong form: a clear error, not a TypeError inside. */
function checkWeightsArgument(w: unknown): asserts w is SessionWeights {
  const form = "weights must be { random: seed } or readWeights()'s result ({ tensors, naming })";
  if (typeof w !== "object" || w === null)
    throw new CsncError(RuntimeCodes.badInput, `${form}, got ${String(w)}`);
  if ("random" in w) {
    const seed = (w as { random: unknown }).random;
    if (!Number.isInteger(seed) || (seed as number) < 0 || (seed as number) > 0xffffffff)
      throw new CsncError(
        RuntimeCodes.badInput,
        `weights.random must be a whole number from 0 to 4294967295, got ${String(seed)}`,
      );
    return;
  }
  const { tensors, naming } = w as { tensors?: unknown; naming?: unknown };
  if (!(tensors instanceof Map))
    throw new CsncError(RuntimeCodes.badInput, `${form}: tensors must be a Map`);
  if (!(namings as readonly unknown[]).includes(naming))
    throw new CsncError(
      RuntimeCodes.badInput,
      `weights.naming must be one of ${namings.join(", ")}, got ${String(naming)}`,
    );
}

/** Clips for runMany: an iterable or async iterable, or a clear error. */
function checkClips(inputs: unknown): void {
  const it = inputs as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  if (
    typeof it !== "object" ||
    it === null ||
    (typeof it[Symbol.iterator] !== "function" && typeof it[Symbol.asyncIterator] !== "function")
  )
    throw new CsncError(
      RuntimeCodes.badInput,
      `runMany takes an iterable or async iterable of clips, got ${String(inputs)}`,
    );
}

export interface PlanSessionOptions {
  readonly plan: Plan;
  /** Weights by name, or already packed for this plan (packSessionWeights). */
  readonly weights: SessionWeights | PackedWeights;
  readonly device: GPUDevice;
}

/** Packs the weights in the plan's layouts, unless they are, and uploads them. */
export async function createPlanSession(o: PlanSessionOptions): Promise<Session> {
  const { plan } = o;
  checkPrecision(o.device, plan.precision);
  const { tensors, packed } =
    typeof o.weights === "object" && o.weights !== null && "packed" in o.weights
      ? o.weights
      : packSessionWeights(plan, o.weights);
  const executor = await createExecutor(o.device, plan, packed);
  return {
    plan,
    tensors,
    setup: { ...executor.setup, compileMs: 0 },
    run: (input) => executor.run(input),
    runMany: async (inputs, each) => {
      checkClips(inputs);
      return executor.runMany(inputs, each);
    },
    profile: () => executor.timeDispatches(),
    destroy: () => executor.destroy(),
  };
}
