// `csnc weights random MODEL.csn -o W.safetensors`: He-normal random weights under csnc's names,
// the same `csnc run` invents without --weights (same seed, same numbers), with the metadata
// that lets `csnc run MODEL --weights W` and generated modules use them without further flags.
import * as path from "node:path";
import { Command } from "commander";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import { loadModel } from "./load.js";
import {
  integerOption,
  modelOptions,
  toCheckOptions,
  UsageError,
  type ModelOptions,
} from "./options.js";
import { compileGraph } from "../compiler/compile.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import type { WeightSpec } from "../compiler/plan.js";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { writeSafetensors } from "../runtime/safetensors.js";
import { bytesText } from "../runtime/units.js";
import { randomTensors } from "../runtime/weights.js";

/** Largest file written: beyond it a "first try" is a mistyped --set (and memory runs out). */
const maxBytes = 1 << 30;

interface RandomOptions extends ModelOptions {
  output?: string;
  seed: number;
}

/** Values of one plan weight entry, as the safetensors file holds them (BN statistics included). */
function values(w: WeightSpec): number {
  const p = w.packing;
  switch (p.kind) {
    case "conv": {
      const taps = p.kernel[0] * p.kernel[1] * p.kernel[2];
      return p.cout * (p.cinPerGroup * taps + (w.bias ? 1 : 0) + (w.bn ? 4 : 0));
    }
    case "fc":
      return p.outFeatures * (p.input.reduce((a, b) => a * b, 1) + (w.bias ? 1 : 0));
    case "affine":
      return 4 * p.channels;
  }
}

export function weightsCommand(io: CliIo): Command {
  const random = new Command("random")
    .description(
      "write He-normal random weights for a model (csnc names), for a first try of run or a generated module",
    )
    .argument("<file>", "a .csn model")
    .option("-o, --output <file>", "the .safetensors file to write")
    .addOption(
      integerOption(
        "--seed <n>",
        "seed (the same numbers as csnc run --seed without --weights)",
        1,
      ),
    )
    .option("--json", "print the report as JSON");
  for (const o of modelOptions) random.addOption(o);
  random.action((file: string, opts: RandomOptions) => {
    if (!opts.output) throw new UsageError("weights random needs -o WEIGHTS.safetensors");
    checkOutputFile(opts.output, [file]);
    const graph = loadModel(io, file, toCheckOptions(opts), opts.json);
    if (!graph) return;
    const plan = compileGraph(graph, unlimitedLimits);
    const count = plan.weights.reduce((a, w) => a + values(w), 0);
    if (4 * count > maxBytes)
      throw new CsncError(
        RuntimeCodes.tooLarge,
        `${plan.model} has ${count.toLocaleString("en")} weight values (${bytesText(4 * count)} as float32); csnc weights random writes at most 1 GiB: check --set (width, classes)`,
      );
    const tensors = randomTensors(plan, opts.seed);
    const eps = graph.params.eps;
    const metadata: Record<string, string> = {
      csnc_naming: "csnc",
      source: "random",
      init: "he-normal",
      seed: String(opts.seed),
      model: path.basename(file),
      model_parameters: JSON.stringify(graph.params),
      input: JSON.stringify(plan.input.shape),
      ...(eps?.type === "float" || eps?.type === "int" ? { bn_eps: String(eps.value) } : {}),
    };
    const floats = new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data! }]));
    const bytes = writeSafetensors(floats, metadata);
    writeOutput(opts.output, bytes);
    const report = {
      model: plan.model,
      parameters: graph.params,
      seed: opts.seed,
      tensors: tensors.size,
      values: count,
      bytes: bytes.length,
      output: opts.output,
    };
    if (opts.json) io.out(JSON.stringify(report, null, 2));
    else
      io.out(
        `wrote ${opts.output}: ${plan.model}, ${tensors.size} tensors, ${count.toLocaleString("en")} values, He-normal, seed ${opts.seed} (csnc names; csnc run --weights and generated modules read it as is)`,
      );
    io.exitCode(0);
  });
  return new Command("weights")
    .description("make weight files: 'csnc weights random MODEL.csn -o W.safetensors'")
    .addCommand(random);
}
