// A trainer in Node on an adapter of its own: the program built for the device's limits, the
// starting tensors (a checkpoint's or fresh ones), and the adapter said. With `auto`, a program
// whose buffers exceed llvmpipe's 128 MiB binding goes to SwiftShader (1 GiB), with a note.
import type { Graph } from "../../compiler/ir.js";
import { buildTrainProgram, TrainGraphError } from "../../compiler/train/build.js";
import type { TrainProgram } from "../../compiler/train/program.js";
import { catalog } from "../../grammar/codes.js";
import { acquireAdapter, type AcquiredAdapter, type Backend } from "../adapter-node.js";
import { kernelLimits, requestDevice } from "../device.js";
import { CsncError } from "../errors.js";
import { createTrainer, type Trainer } from "./trainer.js";

export interface NodeTrainer {
  readonly trainer: Trainer;
  readonly program: TrainProgram;
  readonly adapter: AcquiredAdapter;
  readonly notes: readonly string[];
  destroy(): void;
}

/** The training program of `graph`, its graph errors as CsncErrors naming the layer. */
export function trainProgramFor(
  graph: Graph,
  o: {
    limits: Parameters<typeof buildTrainProgram>[1]["limits"];
    freeze?: readonly string[];
    dropout?: boolean;
  },
): TrainProgram {
  try {
    return buildTrainProgram(graph, o);
  } catch (e) {
    if (!(e instanceof TrainGraphError)) throw e;
    const code = e.message.startsWith("--freeze")
      ? catalog.training.badTrainOption
      : catalog.training.untrainable;
    throw new CsncError(code, `${graph.file}: ${e.message}`);
  }
}

export async function createNodeTrainer(o: {
  readonly graph: Graph;
  readonly backend?: Backend;
  readonly freeze?: readonly string[];
  readonly dropout?: boolean;
  /** The starting tensors for the program built (csnc names) and momentum to resume. */
  readonly tensors: (program: TrainProgram) => {
    tensors: ReadonlyMap<string, Float32Array>;
    momentum?: ReadonlyMap<string, Float32Array>;
  };
}): Promise<NodeTrainer> {
  const backend = o.backend ?? "auto";
  const notes: string[] = [];
  const open = async (b: Backend) => {
    const adapter = await acquireAdapter(b);
    const device = await requestDevice(adapter.adapter);
    const program = trainProgramFor(o.graph, {
      limits: kernelLimits(device),
      freeze: o.freeze,
      dropout: o.dropout,
    });
    const largest = Math.max(...program.slots);
    const fits =
      largest <= device.limits.maxStorageBufferBindingSize &&
      largest <= device.limits.maxBufferSize;
    return { adapter, device, program, fits, largest };
  };
  let opened = await open(backend);
  if (!opened.fits && backend === "auto" && opened.adapter.backend === "opengles") {
    const next = await open("swiftshader").catch(() => undefined);
    if (next?.fits) {
      notes.push(
        `training needs a ${(opened.largest / 2 ** 20).toFixed(0)} MiB buffer, more than llvmpipe binds; training on SwiftShader, which is slower`,
      );
      opened.device.destroy();
      opened = next;
    } else next?.device.destroy();
  }
  const { adapter, device, program } = opened;
  try {
    const start = o.tensors(program);
    const trainer = await createTrainer({ program, device, ...start });
    return {
      trainer,
      program,
      adapter,
      notes,
      destroy() {
        trainer.destroy();
        device.destroy();
      },
    };
  } catch (e) {
    device.destroy();
    throw e;
  }
}
