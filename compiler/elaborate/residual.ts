// Residual shortcut inference: which path the shortcut takes when the program gives none.
// `auto` is the identity when the main path keeps the shape, else a 1x1x1 conv (+ bn) whose
// stride maps the residual's input onto the main path's output.
import type { Op, Shape, Triple } from "../ir.js";

/**
 * The projection conv of a shortcut in `mode`, `undefined` for the identity, or `"none fits"`
 * when a projection is needed and no stride makes one.
 */
export function inferShortcut(
  mode: string,
  input: Shape,
  main: Shape,
): Extract<Op, { kind: "conv" }> | undefined | "none fits" {
  if (!(mode === "project" || (mode === "auto" && !sameShape(main, input)))) return undefined;
  const stride = inferStride(input, main);
  if (!stride) return "none fits";
  return {
    kind: "conv",
    outChannels: main[1],
    kernel: [1, 1, 1],
    stride,
    pad: [0, 0, 0],
    groups: 1,
    bias: false,
    depthwise: false,
  };
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.every((d, i) => d === b[i]);
}

// The stride s per axis for which a 1x1x1 conv maps `from` to `to`: ceil(in / s) = out.
function inferStride(from: Shape, to: Shape): Triple | undefined {
  const stride: number[] = [];
  for (let i = 2; i < 5; i++) {
    const [a, b] = [from[i]!, to[i]!];
    const s = Math.max(1, Math.ceil(a / b));
    if (Math.floor((a - 1) / s) + 1 !== b) return undefined;
    stride.push(s);
  }
  return [stride[0]!, stride[1]!, stride[2]!];
}
