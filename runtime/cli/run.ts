// `csnc run FILE --weights W --input X`: one inference on WebGPU, top-5 classes per sample.
import { Command, Option } from "commander";
import { writeFileSync } from "node:fs";
import type { CliIo } from "../../compiler/cli/io.js";
import { modelOptions, UsageError } from "../../compiler/cli/options.js";
import { backends } from "../adapter-node.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { namings } from "../naming.js";
import { readSafetensors, writeSafetensors } from "../safetensors.js";
import {
  openSession,
  parseShape,
  randomInput,
  readFile,
  shapeDims,
  type SessionOptions,
} from "./session.js";

interface RunOptions extends SessionOptions {
  input?: string;
  inputName: string;
  shape?: string;
  output?: string;
}

/** Options every command that runs a model takes. */
export function sessionOptions(cmd: Command, exclude: readonly string[] = []): Command {
  cmd
    .option("--weights <file>", "weights (.safetensors); random He-normal weights when absent")
    .addOption(
      new Option("--naming <scheme>", "tensor names in the weights file; auto recognises them")
        .choices(["auto", ...namings])
        .default("auto"),
    )
    .addOption(
      new Option(
        "--backend <name>",
        "WebGPU adapter: auto picks a GPU, then SwiftShader, then llvmpipe",
      )
        .choices(backends)
        .default("auto"),
    )
    .option("--seed <n>", "seed of random weights and inputs", "1")
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
      "input clip(s): a .safetensors tensor N x 3 x T x H x W; its shape specialises the model",
    )
    .option("--input-name <name>", "the tensor to read from --input", "input")
    .option(
      "--shape <NxCxTxHxW>",
      "without --input: run a random clip of this shape (default: the model's input)",
    )
    .option("--output <file>", "write logits and probabilities to this .safetensors file");
  sessionOptions(cmd);
  return cmd.action(async (file: string, opts: RunOptions) => {
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
    const session = await openSession(io, file, opts, shapeDims(shape));
    if (!session) return;
    const { plan, executor, adapter, device } = session;
    try {
      const inputShape = plan.input.shape;
      const start = performance.now();
      const out = await executor.run(input ?? randomInput(inputShape, Number(opts.seed)));
      const ms = performance.now() - start;
      const [n, classes] = plan.logits.shape as [number, number];
      if (opts.output) {
        const tensors = new Map([
          ["logits", { shape: [n, classes], data: out.logits }],
          ["probabilities", { shape: [n, classes], data: out.probabilities }],
        ]);
        writeFileSync(opts.output, writeSafetensors(tensors));
      }
      const top = [...Array(n).keys()].map((i) =>
        topK(out.probabilities.subarray(i * classes, (i + 1) * classes), 5),
      );
      if (opts.json) {
        const result = {
          model: plan.model,
          adapter: adapter.description,
          backend: adapter.backend,
          input: inputShape,
          weights: opts.weights ?? "random",
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
          `input ${inputShape.join("x")}, ${plan.dispatches.length} dispatches, ${opts.weights ? `weights ${opts.weights}` : "random weights"}, ${ms.toFixed(1)} ms (first run, includes upload)`,
        );
        top.forEach((t, i) =>
          io.out(
            `sample ${i}: ${t.map((c) => `${c.class} (${c.probability.toFixed(4)})`).join("  ")}`,
          ),
        );
        if (opts.output) io.out(`wrote ${opts.output}`);
      }
      io.exitCode(0);
    } finally {
      executor.destroy();
      device.destroy();
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
