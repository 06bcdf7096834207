// `csnc run FILE --weights W --input X`: one inference on WebGPU, top-5 classes per sample.
import { Command, Option } from "commander";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { CliIo } from "../../compiler/cli/io.js";
import { reportDiagnostics } from "../../compiler/cli/report.js";
import {
  UsageError,
  type ModelOptions,
  modelOptions,
  toCheckOptions,
} from "../../compiler/cli/options.js";
import { compileGraph } from "../../compiler/compile.js";
import { checkFile } from "../../compiler/index.js";
import { nodeHost, projectRoot } from "../../compiler/node-host.js";
import { PlanError } from "../../compiler/plan.js";
import { acquireAdapter, backends, type Backend } from "../adapter-node.js";
import { kernelLimits, requestDevice } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { createExecutor } from "../executor.js";
import { namings, type Naming } from "../naming.js";
import { readSafetensors, writeSafetensors, type Tensor } from "../safetensors.js";
import { packWeights, randomTensors } from "../weights.js";

interface RunOptions extends Omit<ModelOptions, "input"> {
  weights?: string;
  naming: Naming;
  input?: string;
  inputName: string;
  shape?: string;
  output?: string;
  backend: Backend;
  seed: string;
}

function readFile(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new CsncError(
      RuntimeCodes.badFile,
      `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`,
    );
  }
}

export function runCommand(io: CliIo): Command {
  const cmd = new Command("run")
    .description("run a model on WebGPU and print the top-5 classes of each sample")
    .argument("<file>", "a .csn model")
    .option("--weights <file>", "weights (.safetensors); random He-normal weights when absent")
    .addOption(
      new Option("--naming <scheme>", "tensor names in the weights file")
        .choices(namings)
        .default("csnc"),
    )
    .option(
      "--input <file>",
      "input clip(s): a .safetensors tensor N x 3 x T x H x W; its shape specialises the model",
    )
    .option("--input-name <name>", "the tensor to read from --input", "input")
    .option(
      "--shape <NxCxTxHxW>",
      "without --input: run a random clip of this shape (default: the model's input)",
    )
    .option("--output <file>", "write logits and probabilities to this .safetensors file")
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
  for (const o of modelOptions.filter((o) => o.long !== "--input" && o.long !== "--batch"))
    cmd.addOption(o);
  return cmd.action(async (file: string, opts: RunOptions) => {
    let input: Float32Array;
    let shape: number[];
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
    } else {
      shape = [];
      input = new Float32Array(0);
    }
    if (opts.shape) {
      if (opts.input)
        throw new UsageError(
          "--shape and --input exclude each other: the input file's shape is used",
        );
      const parts = opts.shape.split("x").map(Number);
      if (parts.length !== 5 || parts.some((p) => !Number.isSafeInteger(p) || p < 1))
        throw new UsageError(`--shape expects N x C x T x H x W, got '${opts.shape}'`);
      shape = parts;
    }
    const abs = path.resolve(file);
    const options = toCheckOptions({
      ...opts,
      input: shape.length ? shape.slice(1).join("x") : undefined,
      batch: shape.length ? String(shape[0]) : undefined,
    });
    const r = checkFile(abs, projectRoot(abs), nodeHost, options);
    if (r.diagnostics.length > 0) {
      reportDiagnostics(io, r, opts.json);
      io.exitCode(1);
      return;
    }
    if (r.graphs.length !== 1)
      throw new UsageError(
        r.graphs.length
          ? `${file} defines ${r.graphs.length} models: pick one with --model`
          : `${file} defines no model`,
      );
    const graph = r.graphs[0]!;
    const inputShape = graph.nodes[0]!.shape;
    if (!opts.input) input = randomInput(inputShape, Number(opts.seed));

    const acquired = await acquireAdapter(opts.backend);
    const device = await requestDevice(acquired.adapter);
    try {
      let plan;
      try {
        plan = compileGraph(graph, kernelLimits(device));
      } catch (e) {
        if (e instanceof PlanError) throw new CsncError(RuntimeCodes.tooLarge, e.message);
        throw e;
      }
      let tensors: ReadonlyMap<string, Tensor>;
      let naming = opts.naming;
      if (opts.weights)
        tensors = readSafetensors(readFile(opts.weights, "weights"), opts.weights).tensors;
      else {
        tensors = randomTensors(plan, Number(opts.seed));
        naming = "csnc";
      }
      const packed = packWeights(plan, tensors, naming, opts.weights ?? "random weights");
      const executor = await createExecutor(device, plan, packed);
      const start = performance.now();
      const out = await executor.run(input);
      const ms = performance.now() - start;
      executor.destroy();
      const [n, classes] = plan.logits.shape as [number, number];
      if (opts.output) {
        writeFileSync(
          opts.output,
          writeSafetensors(
            new Map([
              ["logits", { shape: [n, classes], data: out.logits }],
              ["probabilities", { shape: [n, classes], data: out.probabilities }],
            ]),
          ),
        );
      }
      const top = [...Array(n).keys()].map((i) =>
        topK(out.probabilities.subarray(i * classes, (i + 1) * classes), 5),
      );
      if (opts.json) {
        io.out(
          JSON.stringify(
            {
              model: plan.model,
              adapter: acquired.description,
              backend: acquired.backend,
              input: inputShape,
              weights: opts.weights ?? "random",
              dispatches: plan.dispatches.length,
              milliseconds: ms,
              logits: chunk(out.logits, classes),
              probabilities: chunk(out.probabilities, classes),
              top,
            },
            null,
            2,
          ),
        );
      } else {
        io.out(`${plan.model} on ${acquired.backend} (${acquired.description})`);
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
      device.destroy();
    }
  });
}

function randomInput(shape: readonly number[], seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
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
