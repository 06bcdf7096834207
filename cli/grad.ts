// `csnc grad FILE --weights W --input X.safetensors --output G.safetensors`: the mean
// cross-entropy of a labelled batch and the gradient of every trainable tensor, BN in training
// mode with batch statistics, dropout the identity, named in the scheme the weights were read in.
import { Command } from "commander";
import { checkLabels, readTensorDataset } from "../runtime/train/dataset.js";
import { schemeName } from "../runtime/train/init.js";
import { writeSafetensors } from "../runtime/safetensors.js";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import {
  backendOption,
  integerOption,
  modelOptions,
  namingOption,
  UsageError,
  weightsOption,
} from "./options.js";
import { readFile } from "./read-file.js";
import { openTrainModel, type TrainModelOptions } from "./train-model.js";

interface GradOptions extends TrainModelOptions {
  input?: string;
  output?: string;
  json?: boolean;
}

export function gradCommand(io: CliIo): Command {
  const cmd = new Command("grad")
    .description(
      "the loss of a labelled batch and every trainable tensor's gradient (BN in training mode, dropout off)",
    )
    .argument("<file>", "a .csn model")
    .option(
      "--input <file>",
      "a .safetensors file of input [N,3,T,H,W] float32 and labels [N] int64",
    )
    .option(
      "-o, --output <file>",
      "the .safetensors file to write: loss [1] and grad.<name> per tensor",
    )
    .addOption(weightsOption())
    .addOption(namingOption())
    .addOption(backendOption())
    .addOption(integerOption("--seed <n>", "seed of random weights when no --weights is given", 1))
    .option("--json", "print the summary as JSON");
  for (const o of modelOptions.filter((o) => !["--input", "--batch"].includes(o.long!)))
    cmd.addOption(o);
  return cmd.action(async (file: string, opts: GradOptions) => {
    if (!opts.input) throw new UsageError("grad needs --input X.safetensors (input and labels)");
    if (!opts.output) throw new UsageError("grad needs --output G.safetensors");
    checkOutputFile(opts.output, [file, opts.weights, opts.input]);
    const data = readTensorDataset(readFile(opts.input, "input"), opts.input);
    const [n, ...clip] = data.shape;
    const model = await openTrainModel(io, file, opts, clip, n!, { dropout: false });
    if (!model) return;
    const { node, weights } = model;
    try {
      checkLabels(data.labels, node.program.classes, opts.input);
      const r = await node.trainer.gradients({ input: data.input, labels: data.labels });
      const naming = weights?.naming ?? "csnc";
      const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
      out.set("loss", { shape: [1], data: Float32Array.of(r.loss) });
      for (const p of node.program.params) {
        const g = r.grads.get(p.name);
        if (g)
          out.set(`grad.${schemeName(node.program, p.name, naming)}`, { shape: p.shape, data: g });
      }
      writeOutput(
        opts.output,
        writeSafetensors(out, { csnc_naming: naming, model: model.graph.model, batch: String(n) }),
      );
      const summary = {
        model: model.graph.model,
        adapter: node.adapter.description,
        backend: node.adapter.backend,
        batch: n,
        loss: r.loss,
        tensors: out.size - 1,
        naming,
        output: opts.output,
      };
      if (opts.json) io.out(JSON.stringify(summary, null, 2));
      else {
        io.out(`${summary.model} on ${summary.backend} (${summary.adapter})`);
        io.out(
          `loss ${r.loss.toPrecision(7)} over ${n} clips; ${summary.tensors} gradients (${naming} names) written to ${opts.output}`,
        );
      }
      io.exitCode(0);
    } finally {
      node.destroy();
    }
  });
}
