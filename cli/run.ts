// `csnc run FILE --weights W --input X`: one inference on WebGPU, top-5 classes per sample.
import { Command } from "commander";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import {
  backendOption,
  integerOption,
  modelOptions,
  namingOption,
  parseShape,
  precisionOption,
  ranges,
  shapeDims,
  UsageError,
  weightsOption,
} from "./options.js";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { readSafetensors, writeSafetensors } from "../runtime/safetensors.js";
import { randomInput } from "../runtime/random-input.js";
import { classLabels, readLabels } from "./labels.js";
import { readFile } from "./read-file.js";
import { openSession, type SessionOptions } from "./session.js";
import { tuningOption } from "./tuning.js";

interface RunOptions extends SessionOptions {
  input?: string;
  inputName: string;
  shape?: string;
  output?: string;
  labels: string;
}

/** Options every command that runs a model takes. */
export function sessionOptions(cmd: Command, exclude: readonly string[] = []): Command {
  cmd
    .addOption(weightsOption())
    .addOption(namingOption())
    .addOption(backendOption())
    .addOption(integerOption("--seed <n>", "seed of random weights and inputs", 1))
    .addOption(tuningOption())
    .addOption(precisionOption())
    .option("--json", "print the result as JSON");
  for (const o of modelOptions.filter((o) => !["--input", "--batch", ...exclude].includes(o.long!)))
    cmd.addOption(o);
  return cmd;
}

export function runCommand(io: CliIo): Command {
  const cmd = new Command("run")
    .description("run a model on WebGPU and print the top-5 classes of each sample")
    .argument("<file>", "a .csn model")
    .option(
      "--input <file>",
      "input clip(s): a .safetensors file holding a tensor N x 3 x T x H x W, whose shape specialises the model (a file here: stats', compile's and profile's --input CxTxHxW is run's --shape)",
    )
    .option("--input-name <name>", "the tensor to read from --input", "input")
    .option(
      "--shape <NxCxTxHxW>",
      `without --input: run a random clip of this shape, N the batch (each ${ranges.dimension.min} to ${ranges.dimension.max}; default: the model's input, N = 1)`,
    )
    .option("--output <file>", "write logits and probabilities to this .safetensors file")
    .option(
      "--labels <set>",
      "class names: kinetics400, a file with one per line, or none (default: kinetics400 for 400-class models)",
    );
  sessionOptions(cmd);
  return cmd.action(async (file: string, opts: RunOptions) => {
    if (opts.output)
      checkOutputFile(opts.output, [file, opts.weights, opts.input, opts.tuning, opts.labels]);
    // A labels file is read before the work; which names apply once the classes are known.
    const labelsChoice = readLabels(opts.labels);
    let input: Float32Array | undefined;
    let shape: number[] = [];
    if (opts.input) {
      const t = readSafetensors(readFile(opts.input, "input"), opts.input).tensors.get(
        opts.inputName,
      );
      if (!t?.data)
        throw new CsncError(
          RuntimeCodes.badInput,
          `${opts.input} has no float tensor '${opts.inputName}' (use --input-name)`,
        );
      if (t.shape.length !== 5)
        throw new CsncError(
          RuntimeCodes.badInput,
          `${opts.input}: '${opts.inputName}' has shape ${t.shape.join("x")}; expected N x C x T x H x W`,
        );
      if (t.shape[0]! > ranges["--batch"].max)
        throw new CsncError(
          RuntimeCodes.badInput,
          `${opts.input}: '${opts.inputName}' holds ${t.shape[0]} samples; csnc runs at most ${ranges["--batch"].max} at once`,
        );
      // WGSL's max() drops a NaN (ReLU, max pooling): a finite, confident answer from nothing.
      const bad = t.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0)
        throw new CsncError(
          RuntimeCodes.badInput,
          `${opts.input}: '${opts.inputName}' holds ${t.data[bad]} at [${unravel(bad, t.shape).join(", ")}]; a clip's values must be finite`,
        );
      input = t.data;
      shape = [...t.shape];
    }
    if (opts.shape) {
      if (opts.input)
        throw new UsageError(
          "--shape and --input exclude each other: the input file's shape is used",
        );
      shape = parseShape(opts.shape, "--shape");
    }
    // A clip's shape is blamed on the clip: run has no --batch or CxTxHxW --input.
    const source = opts.input ? `${opts.input}: tensor '${opts.inputName}'` : "--shape";
    const dims = shapeDims(shape, source);
    const session = await openSession(io, file, opts, dims, "--shape or --input clip");
    if (!session) return;
    const { plan, adapter } = session;
    try {
      const inputShape = plan.input.shape;
      // Drivers compile kernels at their first dispatch (llvmpipe: up to a minute for a new
      // shape on a cold shader cache), so the first run would look hung without a word.
      const notice = process.stderr.isTTY && !opts.json;
      if (notice)
        process.stderr.write(
          "running (a new shape's first run compiles its kernels; later runs reuse the driver's cache)…",
        );
      const start = performance.now();
      const out = await session.run(input ?? randomInput(inputShape, opts.seed));
      const ms = performance.now() - start;
      if (notice) process.stderr.write("\r\x1b[K");
      const [n, classes] = plan.logits.shape as [number, number];
      // Values far beyond what the model saw overflow: say so rather than rank NaNs.
      if (!out.logits.every(Number.isFinite)) {
        const range = plan.precision === "f32" ? "float32's" : "a half's (65504)";
        throw new CsncError(
          RuntimeCodes.badInput,
          `the logits are not finite: the activations overflowed ${range} range (${opts.input ? `the values of ${opts.input}` : "the weights or the clip"} may be far outside what the model expects)`,
        );
      }
      if (opts.output) {
        const tensors = new Map([
          ["logits", { shape: [n, classes], data: out.logits }],
          ["probabilities", { shape: [n, classes], data: out.probabilities }],
        ]);
        writeOutput(opts.output, writeSafetensors(tensors));
      }
      const names = classLabels(labelsChoice, classes, io.err);
      const labels = names.length ? names : undefined;
      const labelSet = opts.labels ?? "kinetics400";
      const top = [...Array(n).keys()].map((i) =>
        topK(out.probabilities.subarray(i * classes, (i + 1) * classes), 5).map((c) =>
          labels
            ? {
                class: c.class,
                label: labels[c.class] ?? String(c.class),
                probability: c.probability,
              }
            : c,
        ),
      );
      if (opts.json) {
        const result = {
          model: plan.model,
          adapter: adapter.description,
          backend: adapter.backend,
          input: inputShape,
          weights: opts.weights ?? "random",
          precision: plan.precision,
          labels: labels ? labelSet : null,
          dispatches: plan.dispatches.length,
          milliseconds: ms,
          logits: chunk(out.logits, classes),
          probabilities: chunk(out.probabilities, classes),
          top,
        };
        io.out(JSON.stringify(result, null, 2));
      } else {
        io.out(`${plan.model} on ${adapter.backend} (${adapter.description})`);
        io.out(
          `input ${inputShape.join("x")}, ${plan.dispatches.length} dispatches${plan.precision === "f32" ? "" : ` (${plan.precision})`}, ${opts.weights ? `weights ${opts.weights}` : "random weights"}, ${ms.toFixed(1)} ms (the first run: kernels compiled on first use and the upload included; csnc profile times later runs)`,
        );
        top.forEach((t, i) =>
          io.out(
            `sample ${i}: ${t.map((c) => `${c.class}${"label" in c ? ` ${c.label}` : ""} (${c.probability.toFixed(4)})`).join("  ")}`,
          ),
        );
        if (opts.output) io.out(`wrote ${opts.output}`);
      }
      io.exitCode(0);
    } finally {
      session.destroy();
    }
  });
}

function topK(p: Float32Array, k: number) {
  return [...p.keys()]
    .sort((a, b) => p[b]! - p[a]!)
    .slice(0, k)
    .map((i) => ({ class: i, probability: p[i]! }));
}

function chunk(x: Float32Array, size: number): number[][] {
  return [...Array(x.length / size).keys()].map((i) => [...x.subarray(i * size, (i + 1) * size)]);
}

/** The index of element `i` of a row-major tensor of `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const at: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(i % shape[d]!);
    i = Math.floor(i / shape[d]!);
  }
  return at;
}
