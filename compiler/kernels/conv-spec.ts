// The shape of one convolution as kernels see it: channels-last input N x T x H x W x Cin,
// output N x To x Ho x Wo x Cout, plus the fused epilogue; and what every conv family shares:
// bindings, operands, counts and the kernel record.
import type { Triple } from "../ir.js";
import {
  makeKernel,
  unflatten,
  type Epilogue,
  type Kernel,
  type KernelChoice,
  type KernelLimits,
} from "./common.js";
import {
  bufferInput,
  bufferWeights,
  channelsFirstInput,
  textureInput,
  textureWeights,
  type ActivationOperand,
  type WeightOperand,
} from "./operand.js";
import {
  arithOf,
  bufferArray,
  f32Io,
  formatSuffix,
  storedBytes,
  widen,
  type Arith,
  type IoFormats,
} from "./format.js";
import type { TextureShape } from "./limits.js";
import type { ActivationTexture } from "./texture.js";
import { packedFloats, type ConvLayout, type WeightLayout } from "./weights.js";

export interface ConvSpec {
  readonly n: number;
  readonly cin: number;
  readonly input: Triple; // T, H, W
  readonly cout: number;
  readonly output: Triple; // To, Ho, Wo
  readonly kernel: Triple;
  readonly stride: Triple;
  readonly pad: Triple;
  readonly groups: number;
  readonly epilogue: Epilogue;
  /** The input is the model's own N x C x T x H x W clip, read as given (no host transpose). */
  readonly channelsFirstInput?: boolean;
  /** How input, residual, output and weights are stored; absent: all float32. */
  readonly formats?: IoFormats;
}

export const formatsOf = (s: ConvSpec): IoFormats => s.formats ?? f32Io;

/** The textures a conv reads when it reads textures: its input (staged or the clip) and weights. */
export interface ConvTextures {
  readonly input: ActivationTexture;
  readonly weights: TextureShape;
}

export const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Multiply-adds of the conv for the whole batch. */
export function convMacs(s: ConvSpec): number {
  return s.n * prod(s.output) * s.cout * (s.cin / s.groups) * prod(s.kernel);
}

/** Floats of the packed weights, then the bias if the epilogue adds one. */
export function convWeightFloats(s: ConvSpec): number {
  // Every conv layout holds the same floats; the order differs.
  return packedFloats(convLayout(s, "direct"));
}

/** Bytes read and written once each: input, weights (+ bias), residual, output. */
export function convBytes(s: ConvSpec): number {
  const f = formatsOf(s);
  const input = s.n * prod(s.input) * s.cin;
  const output = s.n * prod(s.output) * s.cout;
  return (
    storedBytes(input, f.input) +
    storedBytes(output, f.output) +
    storedBytes(convWeightFloats(s), f.weights) +
    (s.epilogue.residual ? storedBytes(output, f.residual) : 0)
  );
}

/** Binding slots of every conv kernel: input, weights (+ bias), the residual if fused, output. */
export function convBindings(s: ConvSpec): Kernel["bindings"] {
  return s.epilogue.residual
    ? ["input", "weights", "residual", "output"]
    : ["input", "weights", "output"];
}

/** The conv's input: its texture when given one, else its buffer (the clip's as given, or channels-last). */
export function convInput(
  s: ConvSpec,
  lanes: 1 | 4,
  textures: ConvTextures | undefined,
): ActivationOperand {
  const shape = [s.n, s.cin, ...s.input];
  const format = formatsOf(s).input;
  const arith = arithOf(s.formats);
  if (textures) return textureInput(shape, textures.input, s.pad, arith);
  return s.channelsFirstInput
    ? channelsFirstInput(shape, format, arith)
    : bufferInput(shape, lanes, format, arith);
}

/** The conv's weights, rows of `columns` units of `type`, or its weight texture. */
export function convWeights(
  s: ConvSpec,
  type: string,
  columns: number,
  textures: ConvTextures | undefined,
): WeightOperand {
  const arith = arithOf(s.formats);
  return textures
    ? textureWeights(arith)
    : bufferWeights(type, columns, formatsOf(s).weights, arith);
}

/** The residual and output of a conv, units of `type` (f32 or vec4<f32>). */
export interface ConvOutputs {
  readonly declarations: string;
  /** The residual's unit at index `i` (a u32 expression). */
  res(i: string): string;
  /** The statement storing `v` as the output's unit `i`. */
  store(i: string, v: string): string;
}

export function convOutputs(s: ConvSpec, type: string): ConvOutputs {
  const lanes = type === "f32" ? 1 : 4;
  const f = formatsOf(s);
  const res = bufferArray(f.residual, lanes, arithOf(f));
  const out = bufferArray(f.output, lanes, arithOf(f));
  const slots = convBindings(s);
  return {
    declarations: [
      ...(s.epilogue.residual ? [res.declaration(2, "res")] : []),
      out.declaration(slots.length - 1, "out", true),
    ].join("\n"),
    res: (i) => res.load("res", i),
    store: (i, v) => out.store("out", i, v),
  };
}

/** A conv's operands (input, weights, residual and output) and the declarations of all its bindings. */
export function convOperands(
  s: ConvSpec,
  lanes: 1 | 4,
  type: string,
  columns: number,
  textures: ConvTextures | undefined,
): {
  inp: ActivationOperand;
  wts: WeightOperand;
  io: ConvOutputs;
  declarations: string;
  num: ConvNumerics;
} {
  const inp = convInput(s, lanes, textures);
  const wts = convWeights(s, type, columns, textures);
  const io = convOutputs(s, type);
  const declarations = [inp.declaration(0), wts.declaration(1), io.declarations].join("\n");
  return { inp, wts, io, declarations, num: convNumerics(s) };
}

/** The type a conv multiplies in, and the widening of its products into the f32 accumulators. */
export interface ConvNumerics {
  readonly arith: Arith;
  /** `type` (f32 or vec4<f32>) in the arithmetic's precision. */
  type(lanes: 1 | 4): string;
  widen(expr: string, lanes?: 1 | 4): string;
}

export function convNumerics(s: ConvSpec): ConvNumerics {
  const arith = arithOf(s.formats);
  return {
    arith,
    type: (lanes) => (lanes === 4 ? `vec4<${arith}>` : arith),
    widen: (expr, lanes = 4) => widen(arith, lanes, expr),
  };
}

/**
 * WGSL `fn ${name}(m: u32) -> vec2<i32>`: the input row cursor and column that output row m of
 * a 1x1x1 conv (strided for projections) reads, for every pointwise GEMM family.
 */
export function pointwiseSource(s: ConvSpec, inp: ActivationOperand, name = "source"): string {
  const [To, Ho, Wo] = s.output;
  return `// The input row cursor and column of output row m.
fn ${name}(m: u32) -> vec2<i32> {
  ${unflatten("m", [
    ["wo", Wo],
    ["ho", Ho],
    ["to", To],
    ["n", s.n],
  ])}
  ${inp.row("v", "n", `i32(to * ${s.stride[0]}u)`, `i32(ho * ${s.stride[1]}u)`)}
  return vec2<i32>(v, i32(wo * ${s.stride[2]}u));
}`;
}

/** The weight layout a conv family reads. */
export function convLayout(s: ConvSpec, layout: ConvLayout): WeightLayout {
  return {
    kind: "conv",
    layout,
    cout: s.cout,
    cinPerGroup: s.cin / s.groups,
    kernel: s.kernel,
    bias: s.epilogue.bias,
  };
}

/** A conv kernel's record, with the counts profiles use. */
export function convKernel(
  s: ConvSpec,
  choice: KernelChoice,
  layout: ConvLayout,
  made: {
    readonly name: string;
    readonly wgsl: string;
    readonly grid: { readonly dispatch: readonly [number, number, number] };
    readonly textures: ConvTextures | undefined;
  },
): Kernel {
  const { wgsl, grid, textures } = made;
  return makeKernel({
    family: choice.family,
    choice,
    name: made.name + formatSuffix(s.formats),
    shape: JSON.stringify(s),
    wgsl,
    grid,
    bindings: convBindings(s),
    ...(textures ? { textures } : {}),
    weights: convLayout(s, layout),
    flops: 2 * convMacs(s),
    bytes: convBytes(s),
  });
}

/** Where a conv reads its input and weights from, by whether it was given textures. */
export const storageOf = (textures: ConvTextures | undefined) =>
  textures ? ("texture" as const) : ("buffer" as const);

/** Throws when a generator is asked for a variant it cannot make: select.ts must not ask. */
export function unsupported(name: string, why: string): never {
  throw new Error(`csnc bug: ${name} was chosen for a conv it cannot run (${why})`);
}

export type { KernelLimits };
