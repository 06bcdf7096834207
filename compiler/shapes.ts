// Shape inference rules, one per op. Each returns the output shape or the reason it has none;
// the caller attaches the source position. Windows follow the usual floor rule:
//   out = floor((in + 2 * pad - kernel) / stride) + 1
import { Codes } from "../grammar/index.js";
import type { Op, Shape, Triple } from "./ir.js";

export type ShapeResult =
  | { readonly shape: Shape }
  | { readonly code: number; readonly message: string; readonly hint?: string };

const axes = ["T", "H", "W"] as const;

function fail(code: number, message: string, hint?: string): ShapeResult {
  return { code, message, hint };
}

/** Output extent of a window along T, H and W, or the first axis where the window does not fit. */
function windowed(
  what: string,
  input: Shape,
  kernel: Triple,
  stride: Triple,
  pad: Triple,
): { extent: Triple } | ShapeResult {
  const extent: number[] = [];
  for (let i = 0; i < 3; i++) {
    const size = input[2 + i]!;
    const padded = size + 2 * pad[i]!;
    if (kernel[i]! > padded) {
      return fail(
        Codes.windowTooLarge,
        `${what} window ${kernel.join("x")} is larger than its padded input along ${axes[i]} (${kernel[i]} > ${size} + 2*${pad[i]})`,
        "use a larger input (--input), a smaller kernel, or more padding",
      );
    }
    const out = Math.floor((padded - kernel[i]!) / stride[i]!) + 1;
    if (out < 1) return fail(Codes.dimensionZero, `${what} output reaches zero along ${axes[i]}`);
    extent.push(out);
  }
  return { extent: extent as unknown as Triple };
}

function checkWindowAttrs(kernel: Triple, stride: Triple, pad: Triple): ShapeResult | undefined {
  if (kernel.some((k) => k < 1))
    return fail(Codes.badValue, `kernel ${kernel.join("x")} must be at least 1 in every dimension`);
  if (stride.some((s) => s < 1))
    return fail(Codes.badValue, `stride ${stride.join("x")} must be at least 1 in every dimension`);
  if (pad.some((p) => p < 0))
    return fail(Codes.badValue, `padding ${pad.join("x")} cannot be negative`);
  return undefined;
}

/**
 * The most elements a tensor (activation or weight) may have: 2^31 floats are 8 GB, past any
 * adapter's buffer limits, and indices past it overflow the kernels' 32-bit arithmetic.
 */
export const maxTensorElements = 2 ** 31;

/** `6.5e14`: a count too large to spell out. */
export function approx(n: number): string {
  return n < 1e6 ? String(n) : n.toExponential(1).replace("e+", "e");
}

/** Why a tensor of `shape` (N x C x T x H x W) is too large, or undefined when it fits. */
export function tooManyElements(what: string, shape: readonly number[]): string | undefined {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n <= maxTensorElements) return undefined;
  return `${what} is ${shape.join("x")} = ${approx(n)} elements; csnc handles tensors of up to 2^31 elements`;
}

function weightElements(op: Op, x: Shape): number {
  if (op.kind === "conv")
    return op.outChannels * (x[1] / op.groups) * op.kernel[0] * op.kernel[1] * op.kernel[2];
  if (op.kind === "fc") return op.outFeatures * flatFeatures(x);
  return 0;
}

/** The output shape of `op`, refused when it or the op's weights pass `maxTensorElements`. */
export function inferShape(op: Op, inputs: readonly Shape[]): ShapeResult {
  const result = inferRaw(op, inputs);
  if (!("shape" in result)) return result;
  const big = tooManyElements(`the output of ${op.kind}`, result.shape);
  if (big) return fail(Codes.tensorTooLarge, big, "use a smaller input or fewer channels");
  const weights = weightElements(op, inputs[0]!);
  if (weights > maxTensorElements)
    return fail(
      Codes.tensorTooLarge,
      `the weights of ${op.kind} have ${approx(weights)} elements; csnc handles tensors of up to 2^31 elements`,
      "use fewer channels or features",
    );
  return result;
}

function inferRaw(op: Op, inputs: readonly Shape[]): ShapeResult {
  const x = inputs[0]!;
  const [n, c] = x;
  switch (op.kind) {
    case "input":
      return { shape: x };
    case "conv": {
      const bad = checkWindowAttrs(op.kernel, op.stride, op.pad);
      if (bad) return bad;
      if (op.outChannels < 1)
        return fail(
          Codes.badValue,
          `a conv needs at least 1 output channel, got ${op.outChannels}`,
        );
      if (op.groups < 1) return fail(Codes.badValue, `groups must be at least 1, got ${op.groups}`);
      if (c % op.groups !== 0 || op.outChannels % op.groups !== 0) {
        return fail(
          Codes.groupsDontDivide,
          `groups = ${op.groups} must divide both the input channels (${c}) and the output channels (${op.outChannels})`,
          "pick a group count that divides both channel counts",
        );
      }
      const w = windowed("conv", x, op.kernel, op.stride, op.pad);
      if (!("extent" in w)) return w;
      return { shape: [n, op.outChannels, ...w.extent] };
    }
    case "maxpool":
    case "avgpool": {
      const bad = checkWindowAttrs(op.kernel, op.stride, op.pad);
      if (bad) return bad;
      if (op.pad.some((p, i) => 2 * p > op.kernel[i]!)) {
        return fail(
          Codes.badValue,
          `pooling padding ${op.pad.join("x")} must be at most half the window ${op.kernel.join("x")}`,
        );
      }
      const w = windowed(op.kind, x, op.kernel, op.stride, op.pad);
      if (!("extent" in w)) return w;
      return { shape: [n, c, ...w.extent] };
    }
    case "global_avgpool":
      return { shape: [n, c, 1, 1, 1] };
    case "fc":
      if (op.outFeatures < 1)
        return fail(Codes.badValue, `fc needs at least 1 output feature, got ${op.outFeatures}`);
      return { shape: [n, op.outFeatures, 1, 1, 1] };
    case "bn":
      if (!(op.eps > 0)) return fail(Codes.badValue, `bn eps must be positive, got ${op.eps}`);
      return { shape: x };
    case "dropout":
      if (!(op.p >= 0 && op.p < 1))
        return fail(Codes.badValue, `dropout p must be in [0, 1), got ${op.p}`);
      return { shape: x };
    case "relu":
    case "softmax":
      return { shape: x };
    case "add": {
      const y = inputs[1]!;
      if (x.some((d, i) => d !== y[i])) {
        return fail(
          Codes.residualMismatch,
          `residual shapes differ: main path ${x.slice(1).join("x")} vs shortcut ${y.slice(1).join("x")} (C x T x H x W)`,
          "let the shortcut be chosen automatically, or give a projection path that matches the main path",
        );
      }
      return { shape: x };
    }
  }
}

/** Features an fc layer sees: the flattened C x T x H x W of its input. */
export function flatFeatures(s: Shape): number {
  return s[1] * s[2] * s[3] * s[4];
}
