// BatchNorm in training mode, as PyTorch does it: batch mean and biased variance over N, T, H, W
// to normalise, running statistics updated with momentum 0.1 from the unbiased variance; in
// evaluation (hp.train = 0) the running statistics instead. Statistics are saved per channel as
// [mean (C), 1/sqrt(var + eps) (C), biased var (C)] for the backward pass and for the running
// statistics' update, which waits for the update phase: a step whose loss is not finite
// changes nothing (the last good state is what a checkpoint then saves).
import { workgroupSize, type KernelLimits } from "../../kernels/common.js";
import type { TrainKernel } from "../program.js";
import {
  elementwise,
  f32,
  reduction,
  stepFinite,
  storeBinds,
  storeGrad,
  storeTag,
  type GradStore,
} from "./wgsl.js";

export interface BnGeometry {
  readonly n: number;
  readonly channels: number;
  /** T x H x W. */
  readonly positions: number;
  readonly eps: number;
}

const shapeOf = (g: BnGeometry) => `${g.n}x${g.channels}x${g.positions} eps${g.eps}`;
const xAt = (g: BnGeometry) => `(b * ${g.channels}u + item) * ${g.positions}u + p`;

/** Per-channel statistics (two passes: the mean, then the variance about it). */
/** `fixed`: always the running statistics (a frozen BN no gradient passes through). */
export function bnStatistics(g: BnGeometry, limits: KernelLimits, fixed = false): TrainKernel {
  const m = g.n * g.positions;
  // The mean is a first reduction over workgroup memory; the variance reduction follows.
  return reduction(
    {
      name: "bn-statistics",
      shape: `${shapeOf(g)}${fixed ? " fixed" : ""}`,
      binds: [{ name: "x" }, { name: "stats", write: true }, { name: "running" }],
      hyper: !fixed,
      prelude: `var<workgroup> mean_shared: f32;`,
    },
    g.channels,
    {
      count: m,
      setup: `var partial = 0.0;
  for (var i = lid; i < ${m}u; i = i + ${workgroupSize}u) {
    let b = i / ${g.positions}u; let p = i % ${g.positions}u;
    partial = partial + x[${xAt(g)}];
  }
  red_s[lid] = partial;
  workgroupBarrier();
  for (var s = ${workgroupSize / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red_s[lid] = red_s[lid] + red_s[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { mean_shared = red_s[0] / ${f32(m)}; }
  workgroupBarrier();
  let mean = mean_shared;
  workgroupBarrier();`,
      term: `let b = i / ${g.positions}u; let p = i % ${g.positions}u;
    let d = x[${xAt(g)}] - mean;
    acc_s = acc_s + d * d;`,
      sums: ["s"],
      finish: `if (${fixed ? "false" : "hp.train == 1u"}) {
      let variance = total_s / ${f32(m)};
      stats[item] = mean;
      stats[${g.channels}u + item] = inverseSqrt(variance + ${f32(g.eps)});
      stats[${2 * g.channels}u + item] = variance;
    } else {
      stats[item] = running[item];
      stats[${g.channels}u + item] = inverseSqrt(running[${g.channels}u + item] + ${f32(g.eps)});
    }`,
    },
    limits,
  );
}

/** y = (x - mean) * invstd * gamma + beta, then the fused residual add and ReLU. */
export function bnNormalise(
  g: BnGeometry,
  o: { readonly residual: boolean; readonly relu: boolean },
  limits: KernelLimits,
): TrainKernel {
  return elementwise(
    {
      name: "bn-normalise",
      shape: `${shapeOf(g)}${o.residual ? " +residual" : ""}${o.relu ? " relu" : ""}`,
      binds: [
        { name: "x" },
        { name: "stats" },
        { name: "gamma" },
        { name: "beta" },
        ...(o.residual ? [{ name: "res" }] : []),
        { name: "y", write: true },
      ],
    },
    g.n * g.channels * g.positions,
    `let c = (idx / ${g.positions}u) % ${g.channels}u;
  var v = (x[idx] - stats[c]) * stats[${g.channels}u + c] * gamma[c] + beta[c];
  ${o.residual ? "v = v + res[idx];" : ""}
  y[idx] = ${o.relu ? "max(v, 0.0)" : "v"};`,
    limits,
  );
}

/** dgamma = sum(dy * xhat), dbeta = sum(dy) per channel, with xhat recomputed from x. */
export function bnBackwardReduce(g: BnGeometry, limits: KernelLimits): TrainKernel {
  return reduction(
    {
      name: "bn-backward-reduce",
      shape: shapeOf(g),
      binds: [
        { name: "x" },
        { name: "dy" },
        { name: "stats" },
        { name: "dgamma", write: true },
        { name: "dbeta", write: true },
      ],
    },
    g.channels,
    {
      count: g.n * g.positions,
      setup: `let mean = stats[item]; let invstd = stats[${g.channels}u + item];`,
      term: `let b = i / ${g.positions}u; let p = i % ${g.positions}u;
    let at = ${xAt(g)};
    acc_sdy = acc_sdy + dy[at];
    acc_sxy = acc_sxy + dy[at] * (x[at] - mean) * invstd;`,
      sums: ["sdy", "sxy"],
      finish: "dgamma[item] = total_sxy; dbeta[item] = total_sdy;",
    },
    limits,
  );
}

/** dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)). */
export function bnBackwardApply(
  g: BnGeometry,
  store: GradStore,
  limits: KernelLimits,
): TrainKernel {
  const m = f32(g.n * g.positions);
  return elementwise(
    {
      name: "bn-backward-apply",
      shape: `${shapeOf(g)} ${storeTag(store)}`,
      binds: [
        { name: "x" },
        { name: "dy" },
        { name: "stats" },
        { name: "gamma" },
        { name: "dgamma" },
        { name: "dbeta" },
        ...storeBinds(store),
      ],
    },
    g.n * g.channels * g.positions,
    `let c = (idx / ${g.positions}u) % ${g.channels}u;
  let invstd = stats[${g.channels}u + c];
  let xhat = (x[idx] - stats[c]) * invstd;
  let v = gamma[c] * invstd * (dy[idx] - dbeta[c] / ${m} - xhat * dgamma[c] / ${m});
  ${storeGrad(store, "idx", "v")}`,
    limits,
  );
}

/** running = 0.9 * running + 0.1 * (batch mean, unbiased batch variance), if the loss is finite. */
export function bnRunningUpdate(g: BnGeometry, limits: KernelLimits): TrainKernel {
  const m = g.n * g.positions;
  const unbias = m > 1 ? m / (m - 1) : 1;
  return elementwise(
    {
      name: "bn-running-update",
      shape: shapeOf(g),
      binds: [{ name: "stats" }, { name: "loss" }, { name: "running", write: true }],
    },
    g.channels,
    `if (!${stepFinite}) { return; }
  running[idx] = 0.9 * running[idx] + 0.1 * stats[idx];
  running[${g.channels}u + idx] = 0.9 * running[${g.channels}u + idx] + 0.1 * stats[${2 * g.channels}u + idx] * ${f32(unbias)};`,
    limits,
  );
}
