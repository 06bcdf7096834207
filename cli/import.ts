// `csnc import CHECKPOINT --model FILE.csn -o OUT.safetensors`: a published checkpoint in csnc's
// own names and float32, with the metadata that lets `csnc run --weights OUT` reproduce the
// source network without further flags.
import { createHash } from "node:crypto";
import * as path from "node:path";
import { Command } from "commander";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import { modelOptions, namingOption, UsageError, type ModelOptions } from "./options.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { compileGraph } from "../compiler/compile.js";
import { loadWeights, type LoadedWeights } from "../runtime/load-weights.js";
import type { Graph } from "../compiler/index.js";
import { tensorPrefix, type Naming } from "../runtime/naming.js";
import { writeSafetensors, type Tensor } from "../runtime/safetensors.js";
import { packWeights } from "../runtime/weights.js";
import { freshClassifier } from "../runtime/train/init.js";
import { readFile } from "./read-file.js";
import { modelFor } from "./session.js";

interface ImportOptions extends ModelOptions {
  model?: string;
  naming: Naming | "auto";
  output?: string;
}

export function importCommand(io: CliIo): Command {
  const cmd = new Command("import")
    .description(
      "convert a published checkpoint (.pth/.pyth zip or legacy, .safetensors) to csnc's weights",
    )
    .argument("<checkpoint>", "the checkpoint file")
    .requiredOption(
      "--model <file>",
      "the .csn model file the weights belong to (a file here; elsewhere --model picks a model of a file)",
    )
    .addOption(namingOption("tensor names in the checkpoint; auto recognises them"))
    .option("-o, --output <file>", "the .safetensors file to write")
    .option("--json", "print the report as JSON");
  for (const o of modelOptions.filter((o) => o.long !== "--model")) cmd.addOption(o);
  return cmd.action((checkpoint: string, opts: ImportOptions) => {
    if (!opts.output) throw new UsageError("import needs -o OUT.safetensors");
    checkOutputFile(opts.output, [checkpoint, opts.model]);
    const bytes = readFile(checkpoint, "checkpoint");
    const weights = loadWeights(bytes, checkpoint, opts.naming);
    const graph = modelFor(io, opts.model!, { ...opts, model: undefined }, {}, weights);
    if (!graph) return;
    const plan = compileGraph(graph, unlimitedLimits);
    const paths = new Set(plan.dispatches.flatMap((d) => d.layers));
    // Fine-tuning on other classes: a classifier of the checkpoint's features but another class
    // count is re-initialised (N(0, 0.01), bias 0) rather than refused.
    const fresh = newClassifier(graph, weights, paths);
    const tensors = fresh ? new Map([...weights.tensors, ...fresh.tensors]) : weights.tensors;
    if (fresh) io.err(`note: ${checkpoint}: ${fresh.note}`);
    packWeights(plan, tensors, weights.naming, checkpoint); // names every problem
    const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const layer of [...paths].sort()) {
      const prefix = tensorPrefix(layer, weights.naming, paths);
      for (const suffix of ["weight", "bias", "running_mean", "running_var"]) {
        const t = tensors.get(`${prefix}.${suffix}`);
        if (t?.data) out.set(`${layer}.${suffix}`, { shape: t.shape, data: t.data });
      }
    }
    const ignored = [...weights.tensors.values()].filter((t) => !t.data).length;
    const metadata: Record<string, string> = {
      csnc_naming: "csnc",
      source: path.basename(checkpoint),
      source_sha256: createHash("sha256").update(bytes).digest("hex"),
      source_format: weights.format,
      scheme: weights.naming,
      model: path.basename(opts.model!),
      model_parameters: JSON.stringify(graph.params),
      ...(weights.bnEps !== undefined ? { bn_eps: String(weights.bnEps) } : {}),
    };
    writeOutput(opts.output, writeSafetensors(out, metadata));
    const report = {
      checkpoint,
      format: weights.format,
      scheme: weights.naming,
      detected: weights.detected,
      bn_eps: weights.bnEps ?? null,
      tensors: out.size,
      ignored_counters: ignored,
      output: opts.output,
    };
    if (opts.json) io.out(JSON.stringify(report, null, 2));
    else {
      io.out(
        `${checkpoint}: ${weights.format}, ${weights.naming} names${weights.detected ? " (detected)" : ""}; ${out.size} tensors, ${ignored} integer counters ignored`,
      );
      io.out(
        `BN eps ${weights.bnEps ?? "as the model declares"}${weights.bnEps !== undefined ? ` (${weights.naming === "pytorchvideo" ? "PyTorchVideo's" : "the scheme's"} convention; recorded in the output)` : ""}`,
      );
      io.out(
        `wrote ${opts.output} (csnc names, float32, source SHA-256 ${metadata.source_sha256!.slice(0, 16)}...)`,
      );
    }
    io.exitCode(0);
  });
}

/** The classifier's tensors made afresh when the checkpoint's has other classes than the model. */
function newClassifier(
  graph: Graph,
  weights: LoadedWeights,
  paths: ReadonlySet<string>,
): { tensors: Map<string, Tensor>; note: string } | undefined {
  const fc = [...graph.nodes].reverse().find((n) => n.op.kind === "fc");
  if (!fc || fc.op.kind !== "fc") return undefined;
  const prefix = tensorPrefix(fc.path, weights.naming, paths);
  const old = prefix ? weights.tensors.get(`${prefix}.weight`) : undefined;
  const features = graph.nodes[fc.inputs[0]!]!.shape.slice(1).reduce((a, b) => a * b, 1);
  const classes = fc.op.outFeatures;
  if (!old || old.shape.length !== 2 || old.shape[1] !== features || old.shape[0] === classes)
    return undefined;
  const weight = freshClassifier(classes, features);
  const tensors = new Map<string, Tensor>([
    [`${prefix}.weight`, { dtype: "F32", shape: [classes, features], data: weight }],
  ]);
  if (fc.op.bias)
    tensors.set(`${prefix}.bias`, {
      dtype: "F32",
      shape: [classes],
      data: new Float32Array(classes),
    });
  return {
    tensors,
    note: `its classifier ${prefix} has ${old.shape[0]} classes and the model ${classes}: re-initialised for fine-tuning (csnc train)`,
  };
}
