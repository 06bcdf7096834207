// The shape of one convolution as kernels see it: channels-last input N x T x H x W x Cin,
// output N x To x Ho x Wo x Cout, plus the fused epilogue.
import type { Triple } from "../ir.js";
import type { Epilogue } from "./common.js";

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
