// Options shared by the commands that build a model (--set, --input, --batch, --model), and the
// one table of numeric option ranges that parsing and --help both read.
import { Option } from "commander";
import type { CheckOptions, Value } from "../compiler/index.js";
import { valueOf } from "../compiler/values.js";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { backends } from "../runtime/backends.js";
import { namings } from "../runtime/naming.js";
import { synthLimits } from "../runtime/train/synth.js";
import { precisions } from "../compiler/kernels/format.js";

/** `--precision`: how activations and weights are stored (arithmetic stays float32). */
export const precisionOption = () =>
  new Option(
    "--precision <p>",
    "f32; f16-storage: activations and weights stored as halves (half the memory), float32 arithmetic, logits within 1e-2; f16: the same halves, multiplied in f16 and accumulated in f32 (adapters with shader-f16 only)",
  )
    .choices(precisions)
    .default("f32");

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {}

export interface ModelOptions {
  set: string[];
  input?: string;
  batch?: string;
  model?: string;
  json?: boolean;
}

/** The accepted range of every integer option; bounds keep each command's time and memory finite. */
export const ranges = {
  "--batch": { min: 1, max: 4096 },
  "--iterations": { min: 1, max: 10000 },
  "--warmup": { min: 0, max: 1000 },
  "--seed": { min: 0, max: 2 ** 32 - 1 },
  "--frames": { min: 1, max: 1024 },
  "--rate": { min: 1, max: 100 },
  "--size": { min: 1, max: 8192 },
  "--crop": { min: 1, max: 8192 },
  "--clips": { min: 1, max: 100 },
  "--memory": { min: 1, max: 1048576 },
  /** csnc tune: seconds. */
  "--budget": { min: 1, max: 86400 },
  /** Each dimension of --input CxTxHxW and --shape NxCxTxHxW. */
  dimension: { min: 1, max: 65536 },
  /** csnc data synth: classes, and its own clips, frames and size (a data set's, not a video's views). */
  "--classes": synthLimits.classes,
  "synth --clips": synthLimits.clips,
  "synth --frames": synthLimits.frames,
  "synth --size": synthLimits.size,
  /** csnc train: steps, epochs, checkpoint interval and warm-up, in optimizer steps. */
  "--steps": { min: 1, max: 100_000_000 },
  "--epochs": { min: 1, max: 1_000_000 },
  "--checkpoint-every": { min: 1, max: 100_000_000 },
  "train --warmup": { min: 0, max: 100_000_000 },
} as const;

export type RangedOption = keyof typeof ranges;

/** The most elements an input (N x C x T x H x W) may hold: 4 GiB of float32, a WebGPU binding's most. */
export const maxInputElements = 2 ** 30;

const inputLimit = `the limit is ${maxInputElements} (4 GiB of float32)`;

/** "1 to 10000", for help texts. */
export function rangeText(option: RangedOption): string {
  const r = ranges[option];
  return `${r.min} to ${r.max}`;
}

/** An integer option's value, checked against its range. */
export function parseInteger(text: string, option: RangedOption, shown: string = option): number {
  const r = ranges[option];
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= r.min && n <= r.max))
    throw new UsageError(
      `${shown} must be an integer from ${r.min} to ${r.max}, got '${truncate(text)}'`,
    );
  return n;
}

/** An option taking an integer in its range (ranges[its long name]), appended to its help. */
export function integerOption(
  flags: string,
  description: string,
  defaultValue?: number,
  /** The range's key where it is not the long name (one command's own range). */
  key?: RangedOption,
): Option {
  const option = key ?? (flags.split(" ")[0] as RangedOption);
  const o = new Option(flags, `${description} (${rangeText(option)})`).argParser((v: string) =>
    parseInteger(v, option),
  );
  return defaultValue === undefined ? o : o.default(defaultValue);
}

const truncate = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}...` : text);

/**
 * Dimensions written `AxBx...` (`--input CxTxHxW`, `--shape NxCxTxHxW`), each in range. With
 * `batch`, the whole input N x C x T x H x W must also fit maxInputElements.
 */
export function parseDims(text: string, option: string, names: string, batch = 1): number[] {
  const parts = text.split("x");
  if (parts.length !== names.length)
    throw new UsageError(
      `${option} expects ${names.split("").join(" x ")} such as ${names.length === 5 ? "1x" : ""}3x16x112x112, got '${truncate(text)}'`,
    );
  const dims = parts.map((p) => parseInteger(p, "dimension", `every ${option} dimension`));
  checkElements(dims, text, option, batch);
  return dims;
}

/** That N x C x T x H x W (`dims`, as `option` gave them in `text`) fits maxInputElements. */
function checkElements(dims: readonly number[], text: string, option: string, batch: number) {
  const elements = dims.reduce((a, b) => a * b, batch);
  if (elements > maxInputElements)
    throw new UsageError(
      `${option} ${text}${batch > 1 ? ` with --batch ${batch}` : ""} would hold ${elements.toExponential(2)} elements; ${inputLimit}`,
    );
}

/** --weights FILE, of every command that runs or exports a model. */
export const weightsOption = () =>
  new Option(
    "--weights <file>",
    "weights: safetensors or a PyTorch checkpoint (.pth/.pyth); random He-normal weights when absent",
  );

/** --backend NAME, of every command that opens a WebGPU adapter. */
export const backendOption = () =>
  new Option(
    "--backend <name>",
    "WebGPU adapter: auto picks a GPU, then llvmpipe, then SwiftShader (fastest first)",
  )
    .choices(backends)
    .default("auto");

/** --naming SCHEME: the tensor names of a weights file. */
export const namingOption = (
  description = "tensor names in the weights file; auto recognises them",
) => new Option("--naming <scheme>", description).choices(["auto", ...namings]).default("auto");

/** `--shape NxCxTxHxW` as numbers, each dimension and the whole in range. */
export function parseShape(text: string, option: string): number[] {
  return parseDims(text, option, "NCTHW");
}

/** Input size as the options give it: C x T x H x W and N; either may be absent (as declared, 1). */
export interface Dims {
  readonly input?: string;
  readonly batch?: string;
}

/**
 * `[N, C, T, H, W]` as Dims; empty means as declared. `source` names where the shape comes from
 * (an input clip's tensor, --shape): its dimensions are checked here, so that a bad one is
 * blamed on it rather than on an option the command may not even have.
 */
export function shapeDims(shape: readonly number[], source = "--shape"): Dims {
  if (!shape.length) return {};
  const names = "NCTHW";
  const bad = (why: string) =>
    new CsncError(RuntimeCodes.badInput, `${source} has shape ${shape.join("x")}; ${why}`);
  if (shape.length !== 5) throw bad("expected N x C x T x H x W");
  shape.forEach((d, i) => {
    const r = i === 0 ? ranges["--batch"] : ranges.dimension;
    if (!(Number.isSafeInteger(d) && d >= r.min && d <= r.max))
      throw bad(
        `its ${names[i]}${i === 0 ? " (the batch)" : ""} is ${d}, not from ${r.min} to ${r.max}`,
      );
  });
  const elements = shape.reduce((a, b) => a * b, 1);
  if (elements > maxInputElements) throw bad(`it holds ${elements} elements; ${inputLimit}`);
  return { input: shape.slice(1).join("x"), batch: String(shape[0]) };
}

export const modelOptions = [
  new Option(
    "--set <name=value>",
    "override a model parameter (repeatable), e.g. --set width=32",
  ).argParser((v: string, prev: string[] = []) => [...prev, v]),
  new Option(
    "--input <CxTxHxW>",
    `override the model's input size C x T x H x W, e.g. 3x16x112x112 (each ${rangeText("dimension")}; run's --input is a clip file, its size option --shape)`,
  ).argParser((v: string) => (parseDims(v, "--input", "CTHW"), v)),
  new Option("--batch <N>", `batch size N (${rangeText("--batch")}; default 1)`).argParser(
    (v: string) => String(parseInteger(v, "--batch")),
  ),
  new Option(
    "--model <name>",
    "which model of the .csn file, when it defines several (a model's name, not a file)",
  ),
];

/** A parameter value as written after `--set name=`: int, float, bool, dims (3x3x3) or a name. */
export function parseValue(text: string): Value {
  // A number past the float range would arrive as Infinity (and an integer past 2^53 rounded):
  // refuse it here rather than compute with it.
  if (/^-?\d+$/.test(text)) {
    const value = Number(text);
    if (!Number.isSafeInteger(value))
      throw new UsageError(`--set: ${truncate(text)} is too large for an integer`);
    return { type: "int", value };
  }
  if (/^-?(\d+\.\d*|\d*\.\d+|\d+)(e[+-]?\d+)?$/i.test(text)) {
    const value = Number(text);
    if (!Number.isFinite(value))
      throw new UsageError(`--set: ${truncate(text)} is out of range for a number`);
    return { type: "float", value };
  }
  if (text === "true" || text === "false") return { type: "bool", value: text === "true" };
  if (/^\d+(x\d+)+$/.test(text)) {
    const value = text.split("x").map(Number);
    if (!value.every(Number.isSafeInteger))
      throw new UsageError(`--set: ${truncate(text)} has a dimension too large`);
    return { type: "dims", value };
  }
  return valueOf(text)!; // a name (an enum member) or a string, as the library reads one
}

export function toCheckOptions(o: ModelOptions): CheckOptions {
  const set = new Map<string, Value>();
  for (const s of o.set ?? []) {
    const m = /^([A-Za-z_]\w*)=(.+)$/.exec(s);
    if (!m) throw new UsageError(`--set expects name=value, got '${truncate(s)}'`);
    set.set(m[1]!, parseValue(m[2]!));
  }
  // --input and --batch were checked as they were parsed (shapeDims checks a clip's): only
  // their product is left to check.
  const batch = o.batch === undefined ? undefined : Number(o.batch);
  const input = o.input?.split("x").map(Number) as [number, number, number, number] | undefined;
  if (input) checkElements(input, o.input!, "--input", batch ?? 1);
  return { set, input, batch, model: o.model };
}
