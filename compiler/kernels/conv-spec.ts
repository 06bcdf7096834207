// The shape of one convolution as kernels see it: channels-last input N x T x H x W x Cin,
// output N x To x Ho x Wo x Cout, plus the fused epilogue.
import type { Triple } from "../ir.js";
import { binding, type Epilogue, type Kernel } from "./common.js";

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

/** Bytes read and written once each: input, weights (+ bias), residual, output. */
export function convBytes(s: ConvSpec): number {
  const input = s.n * prod(s.input) * s.cin;
  const output = s.n * prod(s.output) * s.cout;
  const weights = s.cout * (s.cin / s.groups) * prod(s.kernel) + (s.epilogue.bias ? s.cout : 0);
  return 4 * (input + output + weights + (s.epilogue.residual ? output : 0));
}

/** Binding slots of every conv kernel: input, weights (+ bias), the residual if fused, output. */
export function convBindings(s: ConvSpec): Kernel["bindings"] {
  return s.epilogue.residual
    ? ["input", "weights", "residual", "output"]
    : ["input", "weights", "output"];
}

/** The WGSL declarations for `convBindings`: `inp`, `wts`, `res`, `out`. */
export function convDeclarations(s: ConvSpec, inputType: string, type: string): string {
  const slots = convBindings(s);
  return [
    binding(0, "inp", inputType),
    binding(1, "wts", type),
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
): Kernel {
  return {
    name,
    wgsl,
    workgroupSize: 64,
    dispatch,
    bindings: convBindings(s),
    flops: 2 * convMacs(s),
    bytes: convBytes(s),
  };
}
