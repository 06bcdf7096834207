// The float64 training reference: each op's backward written straight from its definition
// (NCTHW, loops, no cleverness), BN in training mode, softmax cross-entropy, a whole-graph
// forward + backward of the checked IR, and torch.optim.SGD. Tests only; it is the oracle
// for the training kernels, proven against PyTorch in test/train-reference.test.ts.
import type { Graph } from "../../compiler/ir.js";
import {
  batchNorm,
  conv3d,
  globalAvgPool,
  linear,
  pool3d,
  type RefTensor,
  type RefWeights,
} from "./executor.js";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function dims5(s: readonly number[]): [number, number, number, number, number] {
  if (s.length !== 5) throw new Error(`reference backward: expected NCTHW, got [${s.join(", ")}]`);
  return s as unknown as [number, number, number, number, number];
}

function outSize(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

/** Gradients of a 3D convolution; weight layout [Cout, Cin/groups, kT, kH, kW]. */
export function conv3dBackward(
  x: RefTensor,
  w: ArrayLike<number>,
  dy: RefTensor,
  cout: number,
  kernel: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
  groups: number,
  bias: boolean,
): { dx: RefTensor; dw: Float64Array; db?: Float64Array } {
  const [n, cin, T, H, W] = dims5(x.shape);
  const [kT, kH, kW] = kernel as [number, number, number];
  const [sT, sH, sW] = stride as [number, number, number];
  const [pT, pH, pW] = pad as [number, number, number];
  const To = outSize(T, kT, sT, pT);
  const Ho = outSize(H, kH, sH, pH);
  const Wo = outSize(W, kW, sW, pW);
  const want = [n, cout, To, Ho, Wo];
  if (dy.shape.join() !== want.join())
    throw new Error(`conv3dBackward: dy is [${dy.shape.join(", ")}], expected [${want}]`);
  const cinG = cin / groups;
  const coutG = cout / groups;
  const dx = new Float64Array(x.data.length);
  const dw = new Float64Array(cout * cinG * kT * kH * kW);
  const db = bias ? new Float64Array(cout) : undefined;
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++) {
      const g = Math.floor(co / coutG);
      for (let to = 0; to < To; to++)
        for (let ho = 0; ho < Ho; ho++)
          for (let wo = 0; wo < Wo; wo++) {
            const d = dy.data[(((b * cout + co) * To + to) * Ho + ho) * Wo + wo]!;
            if (db) db[co]! += d;
            if (d === 0) continue;
            for (let ci = 0; ci < cinG; ci++)
              for (let kt = 0; kt < kT; kt++) {
                const it = to * sT - pT + kt;
                if (it < 0 || it >= T) continue;
                for (let kh = 0; kh < kH; kh++) {
                  const ih = ho * sH - pH + kh;
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < kW; kw++) {
                    const iw = wo * sW - pW + kw;
                    if (iw < 0 || iw >= W) continue;
                    const xi = (((b * cin + g * cinG + ci) * T + it) * H + ih) * W + iw;
                    const wi = (((co * cinG + ci) * kT + kt) * kH + kh) * kW + kw;
                    dx[xi]! += d * w[wi]!;
                    dw[wi]! += d * x.data[xi]!;
                  }
                }
              }
          }
    }
  return db
    ? { dx: { shape: x.shape, data: dx }, dw, db }
    : { dx: { shape: x.shape, data: dx }, dw };
}

/** Per-channel mean and biased variance over N, T, H, W (two passes). */
function channelStats(x: RefTensor): { mean: Float64Array; variance: Float64Array; m: number } {
  const [n, c] = x.shape as [number, number];
  const p = size(x.shape) / (n * c);
  const m = n * p;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0, o = (b * c + ch) * p; j < p; j++) mean[ch]! += x.data[o + j]!;
  for (let ch = 0; ch < c; ch++) mean[ch]! /= m;
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0, o = (b * c + ch) * p; j < p; j++)
        variance[ch]! += (x.data[o + j]! - mean[ch]!) ** 2;
  for (let ch = 0; ch < c; ch++) variance[ch]! /= m;
  return { mean, variance, m };
}

/**
 * BN in training mode: normalises with the batch mean and biased batch variance over
 * N, T, H, W (M values per channel) and returns the running statistics PyTorch would store:
 * (1 - momentum) * old + momentum * batch, the variance unbiased (M / (M - 1)).
 */
export function batchNormTrain(
  x: RefTensor,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  eps: number,
  momentum = 0.1,
): {
  y: RefTensor;
  mean: Float64Array;
  variance: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
} {
  const [n, c] = x.shape as [number, number];
  const p = size(x.shape) / (n * c);
  const { mean, variance, m } = channelStats(x);
  if (m < 2) throw new Error(`batchNormTrain: ${m} value per channel (PyTorch needs more than 1)`);
  const y = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const inv = 1 / Math.sqrt(variance[ch]! + eps);
      for (let j = 0, o = (b * c + ch) * p; j < p; j++)
        y[o + j] = (x.data[o + j]! - mean[ch]!) * inv * gamma[ch]! + beta[ch]!;
    }
  const rm = new Float64Array(c);
  const rv = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    rm[ch] = (1 - momentum) * runningMean[ch]! + momentum * mean[ch]!;
    rv[ch] = (1 - momentum) * runningVar[ch]! + momentum * ((variance[ch]! * m) / (m - 1));
  }
  return { y: { shape: x.shape, data: y }, mean, variance, runningMean: rm, runningVar: rv };
}

/** Gradients of training-mode BN; the batch statistics are recomputed from x. */
export function batchNormBackward(
  x: RefTensor,
  gamma: ArrayLike<number>,
  eps: number,
  dy: RefTensor,
): { dx: RefTensor; dgamma: Float64Array; dbeta: Float64Array } {
  const [n, c] = x.shape as [number, number];
  const p = size(x.shape) / (n * c);
  const { mean, variance, m } = channelStats(x);
  const inv = variance.map((v) => 1 / Math.sqrt(v + eps));
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0, o = (b * c + ch) * p; j < p; j++) {
        const d = dy.data[o + j]!;
        dbeta[ch]! += d;
        dgamma[ch]! += d * (x.data[o + j]! - mean[ch]!) * inv[ch]!;
      }
  // dx = gamma * inv / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
  const dx = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0, o = (b * c + ch) * p; j < p; j++) {
        const xhat = (x.data[o + j]! - mean[ch]!) * inv[ch]!;
        dx[o + j] =
          ((gamma[ch]! * inv[ch]!) / m) * (m * dy.data[o + j]! - dbeta[ch]! - xhat * dgamma[ch]!);
      }
  return { dx: { shape: x.shape, data: dx }, dgamma, dbeta };
}

/** ReLU's gradient from its output: 0 where y <= 0. */
export function reluBackward(y: RefTensor, dy: RefTensor): RefTensor {
  return { shape: y.shape, data: dy.data.map((d, i) => (y.data[i]! > 0 ? d : 0)) };
}

/**
 * Max pooling's gradient, PyTorch's way: each window's gradient goes to its first maximum in
 * (t, h, w) row-major order; padding is -inf and never chosen.
 */
export function maxPoolBackward(
  x: RefTensor,
  dy: RefTensor,
  kernel: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
): RefTensor {
  return poolBackward(x.shape, dy, "max", kernel, stride, pad, x);
}

/** Average pooling's gradient (the forward divides by the whole window, padding included). */
export function avgPoolBackward(
  xShape: readonly number[],
  dy: RefTensor,
  kernel: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
): RefTensor {
  return poolBackward(xShape, dy, "avg", kernel, stride, pad);
}

function poolBackward(
  xShape: readonly number[],
  dy: RefTensor,
  kind: "max" | "avg",
  kernel: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
  x?: RefTensor,
): RefTensor {
  const [n, c, T, H, W] = dims5(xShape);
  const [kT, kH, kW] = kernel as [number, number, number];
  const To = outSize(T, kT, stride[0]!, pad[0]!);
  const Ho = outSize(H, kH, stride[1]!, pad[1]!);
  const Wo = outSize(W, kW, stride[2]!, pad[2]!);
  if (dy.data.length !== n * c * To * Ho * Wo)
    throw new Error(
      `poolBackward: dy has ${dy.data.length} values, expected ${n * c * To * Ho * Wo}`,
    );
  const dx = new Float64Array(size(xShape));
  const area = kT * kH * kW;
  let o = 0;
  for (let b = 0; b < n * c; b++)
    for (let to = 0; to < To; to++)
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          const d = dy.data[o++]!;
          let best = -Infinity;
          let at = -1;
          for (let kt = 0; kt < kT; kt++)
            for (let kh = 0; kh < kH; kh++)
              for (let kw = 0; kw < kW; kw++) {
                const it = to * stride[0]! - pad[0]! + kt;
                const ih = ho * stride[1]! - pad[1]! + kh;
                const iw = wo * stride[2]! - pad[2]! + kw;
                if (it < 0 || it >= T || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const i = ((b * T + it) * H + ih) * W + iw;
                if (kind === "avg") dx[i]! += d / area;
                else if (x!.data[i]! > best || at < 0) {
                  best = x!.data[i]!;
                  at = i;
                }
              }
          if (kind === "max" && at >= 0) dx[at]! += d;
        }
  return { shape: xShape, data: dx };
}

/** Global average pooling's gradient: dy / (T*H*W) spread over each plane. */
export function globalAvgPoolBackward(xShape: readonly number[], dy: RefTensor): RefTensor {
  const [n, c] = xShape as [number, number];
  const p = size(xShape) / (n * c);
  const dx = new Float64Array(size(xShape));
  for (let i = 0; i < n * c; i++) {
    const d = dy.data[i]! / p;
    for (let j = 0; j < p; j++) dx[i * p + j] = d;
  }
  return { shape: xShape, data: dx };
}

/** Gradients of y = x W^T + b, x flattened to [N, F]; W is [outFeatures, F]. */
export function linearBackward(
  x: RefTensor,
  w: ArrayLike<number>,
  dy: RefTensor,
  outFeatures: number,
  bias: boolean,
): { dx: RefTensor; dw: Float64Array; db?: Float64Array } {
  const n = x.shape[0]!;
  const f = size(x.shape) / n;
  const dx = new Float64Array(n * f);
  const dw = new Float64Array(outFeatures * f);
  const db = bias ? new Float64Array(outFeatures) : undefined;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < outFeatures; j++) {
      const d = dy.data[i * outFeatures + j]!;
      if (db) db[j]! += d;
      for (let k = 0; k < f; k++) {
        dx[i * f + k]! += d * w[j * f + k]!;
        dw[j * f + k]! += d * x.data[i * f + k]!;
      }
    }
  return db
    ? { dx: { shape: x.shape, data: dx }, dw, db }
    : { dx: { shape: x.shape, data: dx }, dw };
}

/**
 * Mean cross-entropy over the batch (torch.nn.functional.cross_entropy) of logits
 * [N, K, 1, 1, 1] or [N, K], and its gradient (softmax - onehot) / N.
 */
export function softmaxCrossEntropy(
  logits: RefTensor,
  labels: ArrayLike<number>,
): { loss: number; dlogits: RefTensor } {
  const n = logits.shape[0]!;
  const k = size(logits.shape) / n;
  if (labels.length !== n) throw new Error(`softmaxCrossEntropy: ${labels.length} labels for ${n}`);
  const d = new Float64Array(n * k);
  let loss = 0;
  for (let b = 0; b < n; b++) {
    const label = labels[b]!;
    if (!Number.isInteger(label) || label < 0 || label >= k)
      throw new Error(`softmaxCrossEntropy: label ${label} outside 0..${k - 1}`);
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits.data[b * k + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits.data[b * k + j]! - m);
    loss += Math.log(s) + m - logits.data[b * k + label]!;
    for (let j = 0; j < k; j++)
      d[b * k + j] = (Math.exp(logits.data[b * k + j]! - m) / s - (j === label ? 1 : 0)) / n;
  }
  return { loss: loss / n, dlogits: { shape: logits.shape, data: d } };
}

export interface TrainResult {
  readonly loss: number;
  readonly logits: RefTensor;
  /** Gradients by csnc tensor name: `<path>.weight`, `<path>.bias` (BN: gamma, beta). */
  readonly grads: Map<string, Float64Array>;
  /** BN running statistics after the batch-statistics update, `<path>.running_mean`/`_var`. */
  readonly running: Map<string, Float64Array>;
}

/**
 * One training-mode forward and backward of the graph: BN with batch statistics (momentum
 * 0.1 on the running statistics), dropout as the identity, the loss the mean cross-entropy
 * of the logits (a trailing softmax is skipped). Gradients accumulate where a tensor has
 * several consumers (a residual's input feeds its main path and its shortcut).
 */
export function trainReference(
  graph: Graph,
  input: ArrayLike<number>,
  labels: ArrayLike<number>,
  weights: RefWeights,
  /** BN layers that normalise with their running statistics and keep them (frozen, fixed). */
  fixedBn: ReadonlySet<string> = new Set(),
  /** Dropout in training mode: whether element i of dropout layer `node` is kept. */
  dropoutKeep?: (node: number, i: number) => boolean,
): TrainResult {
  const get = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`reference training: missing weight ${name}`);
    return w;
  };
  const outNode = graph.nodes[graph.output]!;
  const logitsId = outNode.op.kind === "softmax" ? outNode.inputs[0]! : graph.output;
  const values = new Map<number, RefTensor>();
  const running = new Map<string, Float64Array>();
  for (const node of graph.nodes) {
    if (node.id > logitsId) break;
    const x = values.get(node.inputs[0] ?? -1)!;
    const op = node.op;
    let y: RefTensor;
    switch (op.kind) {
      case "input":
        if (input.length !== size(node.shape))
          throw new Error(
            `reference training: input has ${input.length} values, not ${size(node.shape)}`,
          );
        y = { shape: node.shape, data: Float64Array.from(input) };
        break;
      case "conv":
        y = conv3d(
          x,
          get(`${node.path}.weight`),
          op.bias ? get(`${node.path}.bias`) : undefined,
          op.outChannels,
          op.kernel,
          op.stride,
          op.pad,
          op.groups,
        );
        break;
      case "bn": {
        if (fixedBn.has(node.path)) {
          const [mean, variance] = ["running_mean", "running_var"].map((k) =>
            get(`${node.path}.${k}`),
          );
          y = batchNorm(
            x,
            get(`${node.path}.weight`),
            get(`${node.path}.bias`),
            mean!,
            variance!,
            op.eps,
          );
          running.set(`${node.path}.running_mean`, Float64Array.from(mean!));
          running.set(`${node.path}.running_var`, Float64Array.from(variance!));
          break;
        }
        const r = batchNormTrain(
          x,
          get(`${node.path}.weight`),
          get(`${node.path}.bias`),
          get(`${node.path}.running_mean`),
          get(`${node.path}.running_var`),
          op.eps,
        );
        running.set(`${node.path}.running_mean`, r.runningMean);
        running.set(`${node.path}.running_var`, r.runningVar);
        y = r.y;
        break;
      }
      case "relu":
        y = { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) };
        break;
      case "maxpool":
      case "avgpool":
        y = pool3d(x, op.kind === "maxpool" ? "max" : "avg", op.kernel, op.stride, op.pad);
        break;
      case "global_avgpool":
        y = globalAvgPool(x);
        break;
      case "fc":
        y = linear(
          x,
          get(`${node.path}.weight`),
          op.bias ? get(`${node.path}.bias`) : undefined,
          op.outFeatures,
        );
        break;
      case "dropout":
        y = dropoutKeep
          ? {
              shape: x.shape,
              data: x.data.map((v, i) => (dropoutKeep(node.id, i) ? v / (1 - op.p) : 0)),
            }
          : x;
        break;
      case "add": {
        const s = values.get(node.inputs[1]!)!;
        y = { shape: x.shape, data: x.data.map((v, i) => v + s.data[i]!) };
        break;
      }
      case "softmax":
        throw new Error(`reference training: softmax at ${node.path} is not the graph's last node`);
    }
    values.set(node.id, y);
  }
  const logits = values.get(logitsId)!;
  const { loss, dlogits } = softmaxCrossEntropy(logits, labels);

  const grads = new Map<string, Float64Array>();
  const dvals = new Map<number, RefTensor>([[logitsId, dlogits]]);
  const accumulate = (id: number, d: RefTensor) => {
    const old = dvals.get(id);
    if (!old) dvals.set(id, d);
    else dvals.set(id, { shape: old.shape, data: old.data.map((v, i) => v + d.data[i]!) });
  };
  for (let id = logitsId; id >= 0; id--) {
    const node = graph.nodes[id]!;
    const dy = dvals.get(id);
    if (!dy) continue;
    dvals.delete(id);
    const xId = node.inputs[0] ?? -1;
    const x = values.get(xId)!;
    const op = node.op;
    switch (op.kind) {
      case "input":
        break;
      case "conv": {
        const r = conv3dBackward(
          x,
          get(`${node.path}.weight`),
          dy,
          op.outChannels,
          op.kernel,
          op.stride,
          op.pad,
          op.groups,
          op.bias,
        );
        grads.set(`${node.path}.weight`, r.dw);
        if (r.db) grads.set(`${node.path}.bias`, r.db);
        accumulate(xId, r.dx);
        break;
      }
      case "bn": {
        if (fixedBn.has(node.path)) {
          // Fixed statistics: y = gamma * (x - mean) / sqrt(var + eps) + beta, linear in x.
          const gamma = get(`${node.path}.weight`);
          const mean = get(`${node.path}.running_mean`);
          const variance = get(`${node.path}.running_var`);
          const [n, ch] = x.shape as [number, number];
          const per = x.data.length / (n * ch);
          const dx = new Float64Array(x.data.length);
          const dgamma = new Float64Array(ch);
          const dbeta = new Float64Array(ch);
          for (let i = 0; i < x.data.length; i++) {
            const c = Math.floor(i / per) % ch;
            const inv = 1 / Math.sqrt(variance[c]! + op.eps);
            dx[i] = dy.data[i]! * gamma[c]! * inv;
            dgamma[c]! += dy.data[i]! * (x.data[i]! - mean[c]!) * inv;
            dbeta[c]! += dy.data[i]!;
          }
          grads.set(`${node.path}.weight`, dgamma);
          grads.set(`${node.path}.bias`, dbeta);
          accumulate(xId, { shape: x.shape, data: dx });
          break;
        }
        const r = batchNormBackward(x, get(`${node.path}.weight`), op.eps, dy);
        grads.set(`${node.path}.weight`, r.dgamma);
        grads.set(`${node.path}.bias`, r.dbeta);
        accumulate(xId, r.dx);
        break;
      }
      case "relu":
        accumulate(xId, reluBackward(values.get(id)!, dy));
        break;
      case "maxpool":
        accumulate(xId, maxPoolBackward(x, dy, op.kernel, op.stride, op.pad));
        break;
      case "avgpool":
        accumulate(xId, avgPoolBackward(x.shape, dy, op.kernel, op.stride, op.pad));
        break;
      case "global_avgpool":
        accumulate(xId, globalAvgPoolBackward(x.shape, dy));
        break;
      case "fc": {
        const r = linearBackward(x, get(`${node.path}.weight`), dy, op.outFeatures, op.bias);
        grads.set(`${node.path}.weight`, r.dw);
        if (r.db) grads.set(`${node.path}.bias`, r.db);
        accumulate(xId, r.dx);
        break;
      }
      case "dropout": {
        const p = (node.op as { p: number }).p;
        const keep = dropoutKeep;
        accumulate(
          xId,
          keep
            ? { shape: dy.shape, data: dy.data.map((v, i) => (keep(id, i) ? v / (1 - p) : 0)) }
            : dy,
        );
        break;
      }
      case "add":
        accumulate(xId, dy);
        accumulate(node.inputs[1]!, dy);
        break;
      case "softmax":
        throw new Error(`reference training: softmax at ${node.path} is not the graph's last node`);
    }
  }
  return { loss, logits, grads, running };
}

/**
 * One torch.optim.SGD step (dampening 0, no Nesterov) on every parameter with a gradient:
 * buf = momentum * buf + (g + weightDecay * w), w -= lr * buf. A missing buffer starts at 0,
 * which equals PyTorch's first step (buf = g + wd * w). Weights and buffers change in place.
 */
export function sgdStep(
  weights: Map<string, Float64Array>,
  grads: ReadonlyMap<string, ArrayLike<number>>,
  momentumBuffers: Map<string, Float64Array>,
  { lr, momentum, weightDecay }: { lr: number; momentum: number; weightDecay: number },
): void {
  for (const [name, g] of grads) {
    const w = weights.get(name);
    if (!w) throw new Error(`sgdStep: gradient ${name} has no weight`);
    if (w.length !== g.length)
      throw new Error(`sgdStep: ${name} has ${w.length} values, its gradient ${g.length}`);
    let buf = momentumBuffers.get(name);
    if (!buf) momentumBuffers.set(name, (buf = new Float64Array(w.length)));
    for (let i = 0; i < w.length; i++) {
      buf[i] = momentum * buf[i]! + (g[i]! + weightDecay * w[i]!);
      w[i]! -= lr * buf[i]!;
    }
  }
}
