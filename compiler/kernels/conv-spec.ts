// The shape of one convolution as kernels see it: channels-last input N x T x H x W x Cin,
// output N x To x Ho x Wo x Cout, plus the fused epilogue.
import type { Triple } from "../ir.js";
import { binding, type Epilogue, type Kernel } from "./common.js";
import { textureBinding } from "./texture.js";

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
}

export const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Multiply-adds of the conv for the whole batch. */
export function convMacs(s: ConvSpec): number {
  return s.n * prod(s.output) * s.cout * (s.cin / s.groups) * prod(s.kernel);
}

/** Floats of the packed weights, then the bias if the epilogue adds one. */
export function convWeightFloats(s: ConvSpec): number {
  return s.cout * (s.cin / s.groups) * prod(s.kernel) + (s.epilogue.bias ? s.cout : 0);
}

/** Bytes read and written once each: input, weights (+ bias), residual, output. */
export function convBytes(s: ConvSpec): number {
  const input = s.n * prod(s.input) * s.cin;
  const output = s.n * prod(s.output) * s.cout;
  return 4 * (input + output + convWeightFloats(s) + (s.epilogue.residual ? output : 0));
}

/** Binding slots of every conv kernel: input, weights (+ bias), the residual if fused, output. */
export function convBindings(s: ConvSpec): Kernel["bindings"] {
  return s.epilogue.residual
    ? ["input", "weights", "residual", "output"]
    : ["input", "weights", "output"];
}

/**
 * The WGSL declarations for `convBindings`: `inp`, `wts`, `res`, `out`; `inp` and `wts` are
 * `texture_2d<f32>` where `textures` says so.
 */
export function convDeclarations(
  s: ConvSpec,
  inputType: string,
  type: string,
  textures: Kernel["textures"] = {},
): string {
  const slots = convBindings(s);
  return [
    textures.input ? textureBinding(0, "inp") : binding(0, "inp", inputType),
    textures.weights ? textureBinding(1, "wts") : binding(1, "wts", type),
    ...(s.epilogue.residual ? [binding(2, "res", type)] : []),
    binding(slots.length - 1, "out", type, true),
  ].join("\n");
}

/** A conv kernel's description, with the counts profiles use. */
export function convKernel(
  s: ConvSpec,
  name: string,
  wgsl: string,
  dispatch: Kernel["dispatch"],
  textures?: Kernel["textures"],
): Kernel {
  return {
    name,
    wgsl,
    workgroupSize: 64,
    dispatch,
    bindings: convBindings(s),
    ...(textures ? { textures } : {}),
    flops: 2 * convMacs(s),
    bytes: convBytes(s),
  };
}
