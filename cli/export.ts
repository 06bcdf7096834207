// `csnc export FILE --onnx OUT.onnx`: the model and its weights as ONNX, for ONNX Runtime.
import { Command } from "commander";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { loadWeights } from "../runtime/load-weights.js";
import { tensorPrefix, type Naming } from "../runtime/naming.js";
import { packWeights, randomTensors } from "../runtime/weights.js";
import { readFile } from "./read-file.js";
import { modelFor } from "./session.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { compileGraph } from "../compiler/compile.js";
import { exportOnnx, onnxMaxBytes, onnxOpset, onnxSize } from "../compiler/onnx.js";
import { bytesText, human } from "./format.js";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import {
  integerOption,
  modelOptions,
  namingOption,
  UsageError,
  weightsOption,
  type ModelOptions,
} from "./options.js";

interface ExportOptions extends ModelOptions {
  onnx?: string;
  weights?: string;
  naming: Naming | "auto";
  seed: number;
}

export function exportCommand(io: CliIo): Command {
  const cmd = new Command("export")
    .description("export a model with its weights as ONNX (opset 13), e.g. for ONNX Runtime")
    .argument("<file>", "a .csn model")
    .option("--onnx <file>", "the .onnx file to write (at most 2 GiB: protobuf's limit)")
    .addOption(weightsOption())
    .addOption(namingOption())
    .addOption(integerOption("--seed <n>", "seed of random weights", 1))
    .option("--json", "print a summary as JSON");
  for (const o of modelOptions) cmd.addOption(o);
  return cmd.action((file: string, opts: ExportOptions) => {
    if (!opts.onnx) throw new UsageError("export needs --onnx OUT.onnx");
    checkOutputFile(opts.onnx, [file, opts.weights]);
    const weights = opts.weights
      ? loadWeights(readFile(opts.weights, "weights"), opts.weights, opts.naming)
      : undefined;
    // As run: an imported file's parameters and the scheme's BN epsilon shape the model.
    const graph = modelFor(io, file, opts, {}, weights);
    if (!graph) return;
    // Before any weight is made or packed: the file must fit one protobuf message.
    const size = onnxSize(graph);
    if (size.total > onnxMaxBytes)
      throw new CsncError(
        RuntimeCodes.tooLarge,
        `${file}: the ONNX file would be ${bytesText(size.total)} (${bytesText(size.weights)} of weights, the largest ${size.largest.name} of shape ${size.largest.dims.join("x")}: ${bytesText(size.largest.bytes)}); protobuf's limit is 2 GiB`,
      );
    // The plan lists every tensor the model needs; packing checks names and shapes.
    const plan = compileGraph(graph, unlimitedLimits);
    const tensors = weights?.tensors ?? randomTensors(plan, opts.seed);
    const naming = weights?.naming ?? "csnc";
    packWeights(plan, tensors, naming, opts.weights ?? "random weights");
    const paths = new Set(graph.nodes.map((n) => n.path));
    const bytes = exportOnnx(
      graph,
      (layer, suffix) => tensors.get(`${tensorPrefix(layer, naming, paths)}.${suffix}`)!.data!,
    );
    writeOutput(opts.onnx, bytes);
    const summary = {
      model: graph.model,
      onnx: opts.onnx,
      opset: onnxOpset,
      bytes: bytes.length,
      input: graph.nodes[0]!.shape,
      weights: opts.weights ?? "random",
      naming,
    };
    io.out(
      opts.json
        ? JSON.stringify(summary, null, 2)
        : `wrote ${opts.onnx}: ${graph.model}, opset ${onnxOpset}, input ${summary.input.join("x")}, ${human(bytes.length)}B`,
    );
    io.exitCode(0);
  });
}
