// What `run`, `profile` and `classify` share: the model for a shape, its weights (a file or
// random ones) and a session on the chosen adapter.
import * as path from "node:path";
import type { Graph, Value } from "../compiler/index.js";
import type { Precision } from "../compiler/kernels/format.js";
import { CsncError } from "../runtime/errors.js";
import { loadWeights, type LoadedWeights } from "../runtime/load-weights.js";
import type { Naming } from "../runtime/naming.js";
import type { Backend } from "../runtime/backends.js";
import { createNodeSession, type NodeSession } from "../runtime/node.js";
import type { CliIo } from "./io.js";
import { loadModel } from "./load.js";
import { toCheckOptions, type Dims, type ModelOptions } from "./options.js";
import { readFile } from "./read-file.js";
import { loadTuning } from "./tuning.js";

export interface SessionOptions extends Omit<ModelOptions, "input" | "batch"> {
  weights?: string;
  naming: Naming | "auto";
  backend: Backend;
  seed: number;
  json?: boolean;
  /** --tuning FILE or none; default the user's tuning cache. */
  tuning?: string;
  precision?: Precision;
}

export interface CliSession extends NodeSession {
  readonly graph: Graph;
  /** Milliseconds to check and compile the model. */
  readonly compileMs: number;
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
  // An input's shape specialises the model, but other channels than the file declares are more
  // often a layout mistake (N x T x C x H x W) than a new model.
  const declared = graph?.declaredInput?.[0];
  const given = graph?.nodes[0]?.shape[1];
  if (declared !== undefined && given !== declared && !opts.json)
    io.err(
      `note: the input has ${given} channels where ${path.basename(file)} declares ${declared} (input ${graph!.declaredInput!.join(" x ")}); inputs are N x C x T x H x W`,
    );
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
): Promise<CliSession | undefined> {
  const start = performance.now();
  const weights = opts.weights
    ? loadWeights(readFile(opts.weights, "weights"), opts.weights, opts.naming)
    : undefined;
  const graph = modelFor(io, file, opts, dims, weights);
  if (!graph) return undefined;
  const checkedMs = performance.now() - start;
  const tuning = loadTuning(io, opts.tuning, opts.json);
  let session: NodeSession;
  try {
    session = await createNodeSession({
      graph,
      precision: opts.precision ?? "f32",
      ...(tuning ? { tuningFile: tuning } : {}),
      weights: weights
        ? { tensors: weights.tensors, naming: weights.naming, source: opts.weights }
        : { random: opts.seed },
      backend: opts.backend,
    });
  } catch (e) {
    // The planner's and device.ts's hints name stats' options; this command may shrink otherwise.
    if (e instanceof CsncError && e.message.includes("--input or --batch"))
      throw new CsncError(e.code, e.message.replace("--input or --batch", shrink));
    throw e;
  }
  for (const note of session.notes) io.err(`note: ${note}`);
  return { ...session, graph, compileMs: checkedMs + session.setup.compileMs };
}
