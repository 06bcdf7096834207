// What `csnc grad` and `csnc train` share: the model built for the data's clip shape and batch,
// its starting weights (a checkpoint in any naming scheme, or fresh ones) and a trainer on the
// chosen adapter.
import type { Graph } from "../compiler/index.js";
import type { Backend } from "../runtime/backends.js";
import { loadWeights, type LoadedWeights } from "../runtime/load-weights.js";
import type { Naming } from "../runtime/naming.js";
import { startingTensors } from "../runtime/train/init.js";
import { createNodeTrainer, type NodeTrainer } from "../runtime/train/node.js";
import type { CliIo } from "./io.js";
import type { ModelOptions } from "./options.js";
import { readFile } from "./read-file.js";
import { modelFor } from "./session.js";

export interface TrainModelOptions extends Omit<ModelOptions, "batch"> {
  weights?: string;
  naming: Naming | "auto";
  backend: Backend;
  seed: number;
  freeze?: string;
}

export interface TrainModel {
  readonly graph: Graph;
  readonly weights?: LoadedWeights;
  readonly node: NodeTrainer;
}

/** Undefined after reporting the model's diagnostics. */
export async function openTrainModel(
  io: CliIo,
  file: string,
  opts: TrainModelOptions,
  clip: readonly number[],
  batch: number,
  o: {
    readonly dropout: boolean;
    readonly momentum?: ReadonlyMap<string, Float32Array>;
    /** Tensors that replace the weights' (a resumed checkpoint's), csnc names. */
    readonly resume?: ReadonlyMap<string, Float32Array>;
    /** Checks the built model before any GPU work (a resumed checkpoint's model, say). */
    readonly check?: (graph: Graph) => void;
  },
): Promise<TrainModel | undefined> {
  const weights = opts.weights
    ? loadWeights(readFile(opts.weights, "weights"), opts.weights, opts.naming)
    : undefined;
  const graph = modelFor(
    io,
    file,
    { ...opts, batch: undefined, model: undefined },
    { input: clip.join("x"), batch: String(batch) },
    weights,
  );
  if (!graph) return undefined;
  o.check?.(graph);
  const freeze = opts.freeze
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const node = await createNodeTrainer({
    graph,
    backend: opts.backend,
    freeze,
    dropout: o.dropout,
    tensors: (program) => {
      if (o.resume) return { tensors: o.resume, momentum: o.momentum };
      const start = startingTensors(
        program,
        opts.seed,
        weights && { tensors: weights.tensors, naming: weights.naming, file: opts.weights! },
      );
      for (const n of start.notes) io.err(`note: ${n}`);
      return { tensors: start.tensors };
    },
  });
  for (const n of node.notes) io.err(`note: ${n}`);
  return { graph, weights, node };
}
