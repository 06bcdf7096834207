// The layouts of the weights kernels read, and the pure functions that pack a checkpoint's
// tensors into them (BN folded in float64). The plan records each layer's layout as its kernel
// declared it; the runtime calls `packLayer` and never derives a layout itself.
import type { Triple } from "../ir.js";

/** Which index order a conv family reads its weights in: [Cin][Cout], [tap][C], [tap][Cin/G][Cout]. */
export type ConvLayout = "pointwise" | "depthwise" | "direct";

export type WeightLayout =
  | {
      readonly kind: "conv";
      readonly layout: ConvLayout;
      readonly cout: number;
      readonly cinPerGroup: number;
      readonly kernel: Triple;
      /** Whether a bias row follows the weights (a conv bias or a folded BN). */
      readonly bias: boolean;
    }
  | {
      readonly kind: "fc";
      readonly outFeatures: number;
      /** The input's C, T, H, W: weights are re-laid out to the channels-last flatten order. */
      readonly input: readonly [number, number, number, number];
      readonly bias: boolean;
    }
  | { readonly kind: "affine"; readonly channels: number };

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Floats of the packed weights. */
export function packedFloats(l: WeightLayout): number {
  switch (l.kind) {
    case "conv":
      return l.cout * l.cinPerGroup * prod(l.kernel) + (l.bias ? l.cout : 0);
    case "fc":
      return l.outFeatures * prod(l.input) + (l.bias ? l.outFeatures : 0);
    case "affine":
      return 2 * l.channels;
  }
}

/** A BN's running statistics and affine parameters, as the checkpoint holds them. */
export interface BnTensors {
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly mean: Float32Array;
  readonly variance: Float32Array;
  readonly eps: number;
}

/** What a layer's checkpoint holds: its weight and bias, or a BN (after a conv, or alone). */
export interface LayerTensors {
  readonly weight?: Float32Array;
  readonly bias?: Float32Array;
  readonly bn?: BnTensors;
}

function scaleShift(bn: BnTensors, c: number) {
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    scale[k] = bn.gamma[k]! / Math.sqrt(bn.variance[k]! + bn.eps);
    shift[k] = bn.beta[k]! - bn.mean[k]! * scale[k]!;
  }
  return { scale, shift };
}

/** Where weight (co, ci, tap) goes in each conv layout. */
const convIndex: Record<
  ConvLayout,
  (co: number, ci: number, tap: number, cout: number, cin: number) => number
> = {
  pointwise: (co, ci, _tap, cout) => ci * cout + co,
  depthwise: (co, _ci, tap, cout) => tap * cout + co,
  direct: (co, ci, tap, cout, cin) => (tap * cin + ci) * cout + co,
};

function packConv(l: Extract<WeightLayout, { kind: "conv" }>, t: LayerTensors): Float32Array {
  const { cout, cinPerGroup: cin } = l;
  const taps = prod(l.kernel);
  const weight = t.weight!;
  const folded = t.bn ? scaleShift(t.bn, cout) : undefined;
  const index = convIndex[l.layout];
  const out = new Float32Array(packedFloats(l));
  for (let co = 0; co < cout; co++) {
    const s = folded ? folded.scale[co]! : 1;
    for (let ci = 0; ci < cin; ci++)
      for (let tap = 0; tap < taps; tap++)
        out[index(co, ci, tap, cout, cin)] = weight[(co * cin + ci) * taps + tap]! * s;
    if (l.bias) out[cout * cin * taps + co] = (t.bias?.[co] ?? 0) * s + (folded?.shift[co] ?? 0);
  }
  return out;
}

function packFc(l: Extract<WeightLayout, { kind: "fc" }>, t: LayerTensors): Float32Array {
  const [C, T, H, W] = l.input;
  const P = T * H * W;
  const F = C * P;
  const src = t.weight!;
  const out = new Float32Array(packedFloats(l));
  // PyTorch flattens C, T, H, W; activations are stored T, H, W, C.
  for (let j = 0; j < l.outFeatures; j++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < P; p++) out[j * F + p * C + c] = src[j * F + c * P + p]!;
  if (l.bias) out.set(t.bias!, l.outFeatures * F);
  return out;
}

/** A layer's tensors packed as its kernel reads them. */
export function packLayer(l: WeightLayout, t: LayerTensors): Float32Array {
  switch (l.kind) {
    case "conv":
      return packConv(l, t);
    case "fc":
      return packFc(l, t);
    case "affine": {
      const { scale, shift } = scaleShift(t.bn!, l.channels);
      return Float32Array.from([...scale, ...shift]);
    }
  }
}
