// What `run` and `profile` share: build the model for a shape, pick the adapter, compile for
// the device, load (or invent) the weights, and create the executor.
import { loadModel } from "../../compiler/cli/load.js";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { CliIo } from "../../compiler/cli/io.js";
import {
  parseDims,
  toCheckOptions,
  UsageError,
  type ModelOptions,
} from "../../compiler/cli/options.js";
import { compileGraph } from "../../compiler/compile.js";
import { type Graph, type Value } from "../../compiler/index.js";
import { PlanError, type Plan } from "../../compiler/plan.js";
import { acquireAdapter, type AcquiredAdapter, type Backend } from "../adapter-node.js";
import { kernelLimits, requestDevice, tuningFor } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { createExecutor, type Executor } from "../executor.js";
import type { Naming } from "../naming.js";
import { loadWeights, type LoadedWeights } from "../load-weights.js";
import { packWeights, randomTensors } from "../weights.js";

export interface SessionOptions extends Omit<ModelOptions, "input" | "batch"> {
  weights?: string;
  naming: Naming | "auto";
  backend: Backend;
  seed: number;
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

/**
 * The checked model; when the weights say which BN epsilon their network used (a scheme's
 * convention or an imported file's metadata) and the model has an `eps` parameter that the
 * user did not set, the model is built with it.
 */
export function modelFor(
  io: CliIo,
  file: string,
  opts: ModelOptions,
  dims: Dims,
  weights?: LoadedWeights,
): Graph | undefined {
  const options = toCheckOptions({ ...opts, ...dims });
  const graph = loadModel(io, file, options, opts.json);
  if (!graph || !weights) return graph;
  // Parameters an imported file recorded (width, classes, ...) and the scheme's BN epsilon,
  // for every model parameter the user did not set.
  const recorded: Record<string, Value> = weights.metadata.model_parameters
    ? JSON.parse(weights.metadata.model_parameters)
    : {};
  if (weights.bnEps !== undefined) recorded.eps = { type: "float", value: weights.bnEps };
  const set = new Map(options.set);
  for (const [name, value] of Object.entries(recorded))
    if (!set.has(name) && name in graph.params) set.set(name, value);
  if (set.size === (options.set?.size ?? 0)) return graph;
  return loadModel(io, file, { ...options, set }, opts.json);
}

/**
 * Builds the model, compiles it for the chosen adapter and loads its weights. Undefined after
 * reporting errors. `shrink` names the command's options that make the input smaller, for
 * the hint of a model too large for the device.
 */
export async function openSession(
  io: CliIo,
  file: string,
  opts: SessionOptions,
  dims: Dims,
  shrink = "--input or --batch",
): Promise<Session | undefined> {
  const start = performance.now();
  const weights = opts.weights
    ? loadWeights(readFile(opts.weights, "weights"), opts.weights, opts.naming)
    : undefined;
  const graph = modelFor(io, file, opts, dims, weights);
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
      if (e instanceof PlanError)
        throw new CsncError(RuntimeCodes.tooLarge, e.message.replace("--input or --batch", shrink));
      throw e;
    }
    const compileMs = checkedMs + performance.now() - compileStart;
    const tensors = weights?.tensors ?? randomTensors(plan, opts.seed);
    const packed = packWeights(
      plan,
      tensors,
      weights?.naming ?? "csnc",
      opts.weights ?? "random weights",
    );
    let executor: Executor;
    try {
      executor = await createExecutor(device, plan, packed);
    } catch (e) {
      // device.ts's out-of-memory hint names stats' options; this command may shrink otherwise.
      if (e instanceof CsncError && e.message.includes("--input or --batch"))
        throw new CsncError(e.code, e.message.replace("--input or --batch", shrink));
      throw e;
    }
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

/** `--shape NxCxTxHxW` as numbers, each dimension and the whole in range. */
export function parseShape(text: string, option: string): number[] {
  return parseDims(text, option, "NCTHW");
}

/**
 * Class names: `kinetics400` (runtime/labels/kinetics400.txt, found from dist/ or the source
 * tree) or a file with one name per line.
 */
export function labelsFrom(option: string): string[] {
  const file =
    option === "kinetics400"
      ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../labels/kinetics400.txt")
      : option;
  const found = [file, file.replace(`${path.sep}dist${path.sep}`, path.sep)];
  for (const f of found) {
    try {
      return readFileSync(f, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
    } catch {
      // try the next place (the source tree when running from dist)
    }
  }
  throw new UsageError(`cannot read labels ${option}`);
}
