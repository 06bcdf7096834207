// What `run` and `profile` share: build the model for a shape, pick the adapter, compile for
// the device, load (or invent) the weights, and create the executor.
import { loadModel } from "../../compiler/cli/load.js";
import { readFileSync } from "node:fs";
import type { CliIo } from "../../compiler/cli/io.js";
import { toCheckOptions, UsageError, type ModelOptions } from "../../compiler/cli/options.js";
import { compileGraph } from "../../compiler/compile.js";
import { type Graph } from "../../compiler/index.js";
import { PlanError, type Plan } from "../../compiler/plan.js";
import { acquireAdapter, type AcquiredAdapter, type Backend } from "../adapter-node.js";
import { kernelLimits, requestDevice, tuningFor } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { createExecutor, type Executor } from "../executor.js";
import type { Naming } from "../naming.js";
import { readSafetensors, type Tensor } from "../safetensors.js";
import { packWeights, randomTensors } from "../weights.js";

export interface SessionOptions extends Omit<ModelOptions, "input" | "batch"> {
  weights?: string;
  naming: Naming;
  backend: Backend;
  seed: string;
  json?: boolean;
}

export interface Session {
  readonly graph: Graph;
  readonly plan: Plan;
  readonly adapter: AcquiredAdapter;
  readonly device: GPUDevice;
  readonly executor: Executor;
  /** Milliseconds to check and compile the model. */
  readonly compileMs: number;
}

export function readFile(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    const why =
      (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    throw new CsncError(RuntimeCodes.badFile, `cannot read ${what} ${file}: ${why}`);
  }
}

/** Input size as the options give it: C x T x H x W and N; either may be absent (as declared, 1). */
export interface Dims {
  readonly input?: string;
  readonly batch?: string;
}

/** `[N, C, T, H, W]` as Dims; empty means as declared. */
export function shapeDims(shape: readonly number[]): Dims {
  return shape.length ? { input: shape.slice(1).join("x"), batch: String(shape[0]) } : {};
}

/** Builds the model, compiles it for the chosen adapter and loads its weights. Undefined after reporting errors. */
export async function openSession(
  io: CliIo,
  file: string,
  opts: SessionOptions,
  dims: Dims,
): Promise<Session | undefined> {
  const start = performance.now();
  const graph = loadModel(io, file, toCheckOptions({ ...opts, ...dims }), opts.json);
  if (!graph) return undefined;
  const checkedMs = performance.now() - start;

  const adapter = await acquireAdapter(opts.backend);
  const device = await requestDevice(adapter.adapter);
  try {
    const compileStart = performance.now();
    let plan: Plan;
    try {
      plan = compileGraph(graph, kernelLimits(device), tuningFor(adapter.adapter));
    } catch (e) {
      if (e instanceof PlanError) throw new CsncError(RuntimeCodes.tooLarge, e.message);
      throw e;
    }
    const compileMs = checkedMs + performance.now() - compileStart;
    let tensors: ReadonlyMap<string, Tensor>;
    let naming = opts.naming;
    if (opts.weights)
      tensors = readSafetensors(readFile(opts.weights, "weights"), opts.weights).tensors;
    else {
      tensors = randomTensors(plan, Number(opts.seed));
      naming = "csnc";
    }
    const packed = packWeights(plan, tensors, naming, opts.weights ?? "random weights");
    const executor = await createExecutor(device, plan, packed);
    return { graph, plan, adapter, device, executor, compileMs };
  } catch (e) {
    device.destroy();
    throw e;
  }
}

/** A deterministic clip in [-1, 1). */
export function randomInput(shape: readonly number[], seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** `--shape NxCxTxHxW` as numbers. */
export function parseShape(text: string, option: string): number[] {
  const parts = text.split("x").map(Number);
  if (parts.length !== 5 || parts.some((p) => !Number.isSafeInteger(p) || p < 1))
    throw new UsageError(`${option} expects N x C x T x H x W, got '${text}'`);
  return parts;
}
