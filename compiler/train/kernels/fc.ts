// The fully connected layer, y = x W^T + b, with W [K, F] as PyTorch holds it.
import type { KernelLimits } from "../../kernels/common.js";
import type { TrainKernel } from "../program.js";
import { elementwise, storeBinds, storeGrad, storeTag, type GradStore } from "./wgsl.js";

export interface FcGeometry {
  readonly n: number;
  readonly features: number;
  readonly outFeatures: number;
}

const shapeOf = (g: FcGeometry) => `${g.n}x${g.features}->${g.outFeatures}`;

export function fcForward(
  g: FcGeometry,
  o: { readonly bias: boolean; readonly relu: boolean },
  limits: KernelLimits,
): TrainKernel {
  const { features: f, outFeatures: k } = g;
  const bias = o.bias;
  return elementwise(
    {
      name: "fc-forward",
      shape: `${shapeOf(g)}${bias ? " bias" : ""}${o.relu ? " relu" : ""}`,
      binds: [
        { name: "x" },
        { name: "wt" },
        ...(bias ? [{ name: "bias" }] : []),
        { name: "y", write: true },
      ],
      flops: 2 * g.n * f * k,
    },
    g.n * k,
    `let b = idx / ${k}u; let j = idx % ${k}u;
  var s = ${bias ? "bias[j]" : "0.0"};
  for (var i = 0u; i < ${f}u; i = i + 1u) { s = s + x[b * ${f}u + i] * wt[j * ${f}u + i]; }
  y[idx] = ${o.relu ? "max(s, 0.0)" : "s"};`,
    limits,
  );
}

/** dx[n, f] = sum_k dy[n, k] W[k, f]. */
export function fcBackwardData(g: FcGeometry, store: GradStore, limits: KernelLimits): TrainKernel {
  const { features: f, outFeatures: k } = g;
  return elementwise(
    {
      name: "fc-backward-data",
      shape: `${shapeOf(g)} ${storeTag(store)}`,
      binds: [{ name: "dy" }, { name: "wt" }, ...storeBinds(store)],
      flops: 2 * g.n * f * k,
    },
    g.n * f,
    `let b = idx / ${f}u; let i = idx % ${f}u;
  var s = 0.0;
  for (var j = 0u; j < ${k}u; j = j + 1u) { s = s + dy[b * ${k}u + j] * wt[j * ${f}u + i]; }
  ${storeGrad(store, "idx", "s")}`,
    limits,
  );
}

/** dW[k, f] = sum_n dy[n, k] x[n, f]; then db[k] = sum_n dy[n, k] in the same dispatch. */
export function fcBackwardWeight(g: FcGeometry, bias: boolean, limits: KernelLimits): TrainKernel {
  const { features: f, outFeatures: k, n } = g;
  return elementwise(
    {
      name: "fc-backward-weight",
      shape: `${shapeOf(g)}${bias ? " bias" : ""}`,
      binds: [
        { name: "x" },
        { name: "dy" },
        { name: "dw", write: true },
        ...(bias ? [{ name: "db", write: true }] : []),
      ],
      flops: 2 * n * f * k,
    },
    k * f + (bias ? k : 0),
    `if (idx < ${k * f}u) {
    let j = idx / ${f}u; let i = idx % ${f}u;
    var s = 0.0;
    for (var b = 0u; b < ${n}u; b = b + 1u) { s = s + dy[b * ${k}u + j] * x[b * ${f}u + i]; }
    dw[idx] = s;
  }${
    bias
      ? ` else {
    let j = idx - ${k * f}u;
    var s = 0.0;
    for (var b = 0u; b < ${n}u; b = b + 1u) { s = s + dy[b * ${k}u + j]; }
    db[j] = s;
  }`
      : ""
  }`,
    limits,
  );
}
