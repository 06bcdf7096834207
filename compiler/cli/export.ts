// `csnc export FILE --onnx OUT.onnx`: the model and its weights as ONNX, for ONNX Runtime.
import { loadModel } from "./load.js";
import { Command, Option } from "commander";
import { readFileSync, writeFileSync } from "node:fs";
import { CsncError, RuntimeCodes } from "../../runtime/errors.js";
import { tensorPrefix, namings, type Naming } from "../../runtime/naming.js";
import { readSafetensors, type Tensor } from "../../runtime/safetensors.js";
import { packWeights, randomTensors } from "../../runtime/weights.js";
import { unlimitedLimits } from "../kernels/common.js";
import { compileGraph } from "../compile.js";
import { exportOnnx, onnxOpset } from "../onnx.js";
import { human } from "./format.js";
import type { CliIo } from "./io.js";
import { modelOptions, toCheckOptions, UsageError, type ModelOptions } from "./options.js";

interface ExportOptions extends ModelOptions {
  onnx?: string;
  weights?: string;
  naming: Naming;
  seed: string;
}

export function exportCommand(io: CliIo): Command {
  const cmd = new Command("export")
    .description("export a model with its weights as ONNX (opset 13), e.g. for ONNX Runtime")
    .argument("<file>", "a .csn model")
    .option("--onnx <file>", "the .onnx file to write")
    .option("--weights <file>", "weights (.safetensors); random He-normal weights when absent")
    .addOption(
      new Option("--naming <scheme>", "tensor names in the weights file")
        .choices(namings)
        .default("csnc"),
    )
    .option("--seed <n>", "seed of random weights", "1")
    .option("--json", "print a summary as JSON");
  for (const o of modelOptions) cmd.addOption(o);
  return cmd.action((file: string, opts: ExportOptions) => {
    if (!opts.onnx) throw new UsageError("export needs --onnx OUT.onnx");
    const graph = loadModel(io, file, toCheckOptions(opts), opts.json);
    if (!graph) return;
    // The plan lists every tensor the model needs; packing checks names and shapes.
    const plan = compileGraph(graph, unlimitedLimits);
    let tensors: ReadonlyMap<string, Tensor>;
    let naming = opts.naming;
    if (opts.weights) {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(opts.weights);
      } catch {
        throw new CsncError(
          RuntimeCodes.badFile,
          `cannot read weights ${opts.weights}: no such file`,
        );
      }
      tensors = readSafetensors(bytes, opts.weights).tensors;
    } else {
      tensors = randomTensors(plan, Number(opts.seed));
      naming = "csnc";
    }
    packWeights(plan, tensors, naming, opts.weights ?? "random weights");
    const paths = new Set(graph.nodes.map((n) => n.path));
    const bytes = exportOnnx(
      graph,
      (layer, suffix) => tensors.get(`${tensorPrefix(layer, naming, paths)}.${suffix}`)!.data!,
    );
    writeFileSync(opts.onnx, bytes);
    const summary = {
      model: graph.model,
      onnx: opts.onnx,
      opset: onnxOpset,
      bytes: bytes.length,
      input: graph.nodes[0]!.shape,
      weights: opts.weights ?? "random",
    };
    io.out(
      opts.json
        ? JSON.stringify(summary, null, 2)
        : `wrote ${opts.onnx}: ${graph.model}, opset ${onnxOpset}, input ${summary.input.join("x")}, ${human(bytes.length)}B`,
    );
    io.exitCode(0);
  });
}
