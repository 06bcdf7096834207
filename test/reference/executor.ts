// A small, obviously correct CPU executor of the checked IR: NCTHW layout, float64, loops
// written straight from the definitions. Tests only; it is the oracle for every GPU kernel.
import type { Graph, Node } from "../../compiler/ir.js";

export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

/** Float weights by tensor name, csnc naming (`<layer path>.weight`, ...). */
export type RefWeights = ReadonlyMap<string, ArrayLike<number>>;

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function conv3d(
  x: RefTensor,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  cout: number,
  kernel: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
  groups: number,
): RefTensor {
  const [n, cin, T, H, W] = x.shape as [number, number, number, number, number];
  const [kT, kH, kW] = kernel as [number, number, number];
  const To = Math.floor((T + 2 * pad[0]! - kT) / stride[0]!) + 1;
  const Ho = Math.floor((H + 2 * pad[1]! - kH) / stride[1]!) + 1;
  const Wo = Math.floor((W + 2 * pad[2]! - kW) / stride[2]!) + 1;
  const cinG = cin / groups;
  const coutG = cout / groups;
  const out = new Float64Array(n * cout * To * Ho * Wo);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++) {
      const g = Math.floor(co / coutG);
      for (let to = 0; to < To; to++)
        for (let ho = 0; ho < Ho; ho++)
          for (let wo = 0; wo < Wo; wo++) {
            let acc = bias ? bias[co]! : 0;
            for (let ci = 0; ci < cinG; ci++)
              for (let kt = 0; kt < kT; kt++) {
                const it = to * stride[0]! - pad[0]! + kt;
                if (it < 0 || it >= T) continue;
                for (let kh = 0; kh < kH; kh++) {
                  const ih = ho * stride[1]! - pad[1]! + kh;
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < kW; kw++) {
                    const iw = wo * stride[2]! - pad[2]! + kw;
                    if (iw < 0 || iw >= W) continue;
                    const xv = x.data[(((b * cin + g * cinG + ci) * T + it) * H + ih) * W + iw]!;
                    const wv = w[(((co * cinG + ci) * kT + kt) * kH + kh) * kW + kw]!;
                    acc += xv * wv;
                  }
                }
              }
            out[(((b * cout + co) * To + to) * Ho + ho) * Wo + wo] = acc;
          }
    }
  return { shape: [n, cout, To, Ho, Wo], data: out };
}

export function batchNorm(
  x: RefTensor,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  eps: number,
): RefTensor {
  const [n, c] = x.shape as [number, number];
  const p = size(x.shape) / (n * c);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const ch = Math.floor(i / p) % c;
    out[i] = ((x.data[i]! - mean[ch]!) / Math.sqrt(variance[ch]! + eps)) * gamma[ch]! + beta[ch]!;
  }
  return { shape: x.shape, data: out };
}

export function pool3d(
  x: RefTensor,
  kind: "max" | "avg",
  kernel: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
): RefTensor {
  const [n, c, T, H, W] = x.shape as [number, number, number, number, number];
  const To = Math.floor((T + 2 * pad[0]! - kernel[0]!) / stride[0]!) + 1;
  const Ho = Math.floor((H + 2 * pad[1]! - kernel[1]!) / stride[1]!) + 1;
  const Wo = Math.floor((W + 2 * pad[2]! - kernel[2]!) / stride[2]!) + 1;
  const out = new Float64Array(n * c * To * Ho * Wo);
  let o = 0;
  for (let b = 0; b < n * c; b++)
    for (let to = 0; to < To; to++)
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          let acc = kind === "max" ? -Infinity : 0;
          for (let kt = 0; kt < kernel[0]!; kt++)
            for (let kh = 0; kh < kernel[1]!; kh++)
              for (let kw = 0; kw < kernel[2]!; kw++) {
                const it = to * stride[0]! - pad[0]! + kt;
                const ih = ho * stride[1]! - pad[1]! + kh;
                const iw = wo * stride[2]! - pad[2]! + kw;
                if (it < 0 || it >= T || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const v = x.data[((b * T + it) * H + ih) * W + iw]!;
                acc = kind === "max" ? Math.max(acc, v) : acc + v;
              }
          out[o++] = kind === "max" ? acc : acc / (kernel[0]! * kernel[1]! * kernel[2]!);
        }
  return { shape: [n, c, To, Ho, Wo], data: out };
}

export function globalAvgPool(x: RefTensor): RefTensor {
  const [n, c] = x.shape as [number, number];
  const p = size(x.shape) / (n * c);
  const out = new Float64Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += x.data[i * p + j]!;
    out[i] = s / p;
  }
  return { shape: [n, c, 1, 1, 1], data: out };
}

export function linear(
  x: RefTensor,
  w: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  outFeatures: number,
): RefTensor {
  const n = x.shape[0]!;
  const f = size(x.shape) / n;
  const out = new Float64Array(n * outFeatures);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < outFeatures; j++) {
      let s = b ? b[j]! : 0;
      for (let k = 0; k < f; k++) s += x.data[i * f + k]! * w[j * f + k]!;
      out[i * outFeatures + j] = s;
    }
  return { shape: [n, outFeatures, 1, 1, 1], data: out };
}

export function softmax(x: RefTensor): RefTensor {
  const [n, c] = x.shape as [number, number];
  const p = size(x.shape) / (n * c);
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let j = 0; j < p; j++) {
      const at = (ch: number) => (b * c + ch) * p + j;
      let m = -Infinity;
      for (let ch = 0; ch < c; ch++) m = Math.max(m, x.data[at(ch)]!);
      let s = 0;
      for (let ch = 0; ch < c; ch++) s += Math.exp(x.data[at(ch)]! - m);
      for (let ch = 0; ch < c; ch++) out[at(ch)] = Math.exp(x.data[at(ch)]! - m) / s;
    }
  return { shape: x.shape, data: out };
}

/** Runs every node of the graph; returns each node's output by id. */
export function runReference(
  graph: Graph,
  input: ArrayLike<number>,
  weights: RefWeights,
): Map<number, RefTensor> {
  const values = new Map<number, RefTensor>();
  const get = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`reference executor: missing weight ${name}`);
    return w;
  };
  for (const node of graph.nodes)
    values.set(node.id, step(node, graph, values, input, get, weights));
  return values;
}

function step(
  node: Node,
  graph: Graph,
  values: Map<number, RefTensor>,
  input: ArrayLike<number>,
  get: (n: string) => ArrayLike<number>,
  weights: RefWeights,
): RefTensor {
  const x = values.get(node.inputs[0] ?? -1)!;
  const op = node.op;
  switch (op.kind) {
    case "input":
      return { shape: node.shape, data: Float64Array.from(input) };
    case "conv":
      return conv3d(
        x,
        get(`${node.path}.weight`),
        op.bias ? get(`${node.path}.bias`) : undefined,
        op.outChannels,
        op.kernel,
        op.stride,
        op.pad,
        op.groups,
      );
    case "bn":
      return batchNorm(
        x,
        get(`${node.path}.weight`),
        get(`${node.path}.bias`),
        get(`${node.path}.running_mean`),
        get(`${node.path}.running_var`),
        op.eps,
      );
    case "relu":
      return { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) };
    case "maxpool":
    case "avgpool":
      return pool3d(x, op.kind === "maxpool" ? "max" : "avg", op.kernel, op.stride, op.pad);
    case "global_avgpool":
      return globalAvgPool(x);
    case "fc":
      return linear(
        x,
        get(`${node.path}.weight`),
        op.bias ? weights.get(`${node.path}.bias`) : undefined,
        op.outFeatures,
      );
    case "softmax":
      return softmax(x);
    case "dropout":
      return x;
    case "add": {
      const y = values.get(node.inputs[1]!)!;
      return { shape: x.shape, data: x.data.map((v, i) => v + y.data[i]!) };
    }
  }
  void graph;
}
