// Fully connected layer: out[n, j] = sum_k x[n, k] * W[j, k] + b[j], one invocation per output,
// vec4 along k. x is the flattened channels-last input; the weights were re-laid out at load
// time to the same (T, H, W, C) order. Weights: [out][in], then bias [out].
import type { Kernel, KernelLimits } from "./common.js";
import { binding, entry, grid, makeKernel, unflatten } from "./common.js";
import {
  arithOf,
  bufferArray,
  f32Io,
  formatSuffix,
  storedBytes,
  widen,
  type IoFormats,
} from "./format.js";

/** `input`: the C, T, H, W of what the layer flattens. */
export function fc(
  n: number,
  input: readonly [number, number, number, number],
  outFeatures: number,
  bias: boolean,
  limits: KernelLimits,
  formats: IoFormats = f32Io,
): Kernel {
  if (formats.output !== "f32") throw new Error("csnc bug: logits are stored as float32");
  const features = input.reduce((a, b) => a * b, 1);
  const vec = features % 4 === 0;
  const K = vec ? features / 4 : features;
  const total = n * outFeatures;
  const g = grid(total, limits);
  const name = `fc-${vec ? "vec4" : "scalar"}${formatSuffix(formats)}`;
  const arith = arithOf(formats);
  const inp = bufferArray(formats.input, vec ? 4 : 1, arith);
  const wts = bufferArray(formats.weights, vec ? 4 : 1, arith);
  const wflat = bufferArray(formats.weights, 1, arith);
  const biasIndex = vec ? `${outFeatures * K}u * 4u + j` : `${outFeatures * K}u + j`;
  const wgsl = `// ${name}: [${n} x ${features}] x [${features} x ${outFeatures}]${bias ? " + bias" : ""}.
${inp.declaration(0, "inp")}
${wts.declaration(1, "wts")}
${bias ? wflat.declaration(2, "wflat") + "\n" : ""}${binding(bias ? 3 : 2, "out", "f32", true)}
${entry(g.nx, total)}
  ${unflatten("idx", [
    ["j", outFeatures],
    ["n", n],
  ])}
  var acc = ${vec ? "vec4<f32>(0.0)" : "0.0"};
  let xb = n * ${K}u; let wb = j * ${K}u;
  for (var k = 0u; k < ${K}u; k++) { acc += ${widen(arith, vec ? 4 : 1, `${inp.raw("inp", "xb + k")} * ${wts.raw("wts", "wb + k")}`)}; }
  out[idx] = ${vec ? "acc.x + acc.y + acc.z + acc.w" : "acc"}${bias ? ` + ${wflat.load("wflat", biasIndex)}` : ""};
}
`;
  return makeKernel({
    family: "fc",
    choice: { family: "fc" },
    name,
    shape: JSON.stringify({ n, input, outFeatures, bias, formats }),
    wgsl,
    grid: g,
    // With a bias the weights buffer is bound twice: as vec4 rows and as scalars for the bias.
    // Without one the scalar view is left out: WebGPU's derived layout drops unused bindings.
    bindings: bias ? ["input", "weights", "weights", "output"] : ["input", "weights", "output"],
    flops: 2 * n * features * outFeatures,
    weights: { kind: "fc", outFeatures, input, bias },
    bytes:
      storedBytes(n * features, formats.input) +
      storedBytes(features * outFeatures + outFeatures, formats.weights) +
      4 * n * outFeatures,
  });
}
