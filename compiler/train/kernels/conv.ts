// Conv3d of every kind (dense, grouped, depthwise, 1x1x1, strided and padded) for training:
// NCTHW storage buffers, weights [Cout, Cin/G, kT, kH, kW] as PyTorch holds them, so gradients
// come out in the checkpoint's own layout.
import type { KernelLimits } from "../../kernels/common.js";
import type { TrainKernel } from "../program.js";
import {
  elementwise,
  reduction,
  storeBinds,
  storeGrad,
  storeTag,
  unflatten,
  type GradStore,
} from "./wgsl.js";

export interface ConvGeometry {
  readonly n: number;
  readonly cin: number;
  readonly cout: number;
  readonly groups: number;
  /** Input T, H, W and output T, H, W. */
  readonly in: readonly [number, number, number];
  readonly out: readonly [number, number, number];
  readonly kernel: readonly [number, number, number];
  readonly stride: readonly [number, number, number];
  readonly pad: readonly [number, number, number];
}

const shapeOf = (g: ConvGeometry) =>
  `${g.n}x${g.cin}x${g.in.join("x")}->${g.cout}x${g.out.join("x")} k${g.kernel.join("x")} s${g.stride.join("x")} p${g.pad.join("x")} g${g.groups}`;

const macs = (g: ConvGeometry) =>
  g.n *
  g.cout *
  g.out[0] *
  g.out[1] *
  g.out[2] *
  (g.cin / g.groups) *
  g.kernel[0] *
  g.kernel[1] *
  g.kernel[2];

// WGSL index of x[n, c, t, h, w] and of y[n, co, ot, oh, ow] (all u32 expressions).
const xAt = (g: ConvGeometry, n: string, c: string, t: string, h: string, w: string) =>
  `(((${n} * ${g.cin}u + ${c}) * ${g.in[0]}u + ${t}) * ${g.in[1]}u + ${h}) * ${g.in[2]}u + ${w}`;
const yAt = (g: ConvGeometry, n: string, c: string, t: string, h: string, w: string) =>
  `(((${n} * ${g.cout}u + ${c}) * ${g.out[0]}u + ${t}) * ${g.out[1]}u + ${h}) * ${g.out[2]}u + ${w}`;
const wAt = (g: ConvGeometry, co: string, ci: string, kt: string, kh: string, kw: string) =>
  `(((${co} * ${g.cin / g.groups}u + ${ci}) * ${g.kernel[0]}u + ${kt}) * ${g.kernel[1]}u + ${kh}) * ${g.kernel[2]}u + ${kw}`;

const dims = ["t", "h", "w"] as const;

/** Forward: one invocation per output element; `relu` fuses a ReLU that only it feeds. */
export function convForward(
  g: ConvGeometry,
  o: { readonly bias: boolean; readonly relu: boolean },
  limits: KernelLimits,
): TrainKernel {
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  // Input coordinate per dimension, skipped when outside (padding reads zero).
  const loops = dims
    .map(
      (d, i) => `for (var k${d} = 0u; k${d} < ${g.kernel[i]}u; k${d} = k${d} + 1u) {
        let i${d}s = i32(o${d} * ${g.stride[i]}u + k${d}) - ${g.pad[i]};
        if (i${d}s < 0 || i${d}s >= ${g.in[i]}) { continue; }
        let i${d} = u32(i${d}s);`,
    )
    .join("\n");
  const total = g.n * g.cout * g.out[0] * g.out[1] * g.out[2];
  return elementwise(
    {
      name: "conv-forward",
      shape: `${shapeOf(g)}${o.bias ? " bias" : ""}${o.relu ? " relu" : ""}`,
      binds: [
        { name: "x" },
        { name: "wt" },
        ...(o.bias ? [{ name: "bias" }] : []),
        { name: "y", write: true },
      ],
      flops: 2 * macs(g),
    },
    total,
    `${unflatten("idx", [
      ["ow", g.out[2]],
      ["oh", g.out[1]],
      ["ot", g.out[0]],
      ["co", g.cout],
      ["n", g.n],
    ])}
  let grp = co / ${coutG}u;
  var acc = ${o.bias ? "bias[co]" : "0.0"};
  for (var ci = 0u; ci < ${cinG}u; ci = ci + 1u) {
    let c = grp * ${cinG}u + ci;
    ${loops}
    acc = acc + x[${xAt(g, "n", "c", "it", "ih", "iw")}] * wt[${wAt(g, "co", "ci", "kt", "kh", "kw")}];
    } } }
  }
  y[idx] = ${o.relu ? "max(acc, 0.0)" : "acc"};`,
    limits,
  );
}

/**
 * Data gradient, gathered: one invocation per input element sums dy over the outputs whose
 * window holds it (the transposed conv), so no atomics and every element written once.
 */
export function convBackwardData(
  g: ConvGeometry,
  store: GradStore,
  limits: KernelLimits,
): TrainKernel {
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  const loops = dims
    .map(
      (d, i) => `for (var k${d} = 0u; k${d} < ${g.kernel[i]}u; k${d} = k${d} + 1u) {
        let n${d} = i32(${d}) + ${g.pad[i]} - i32(k${d});
        if (n${d} < 0 || n${d} % ${g.stride[i]} != 0) { continue; }
        let o${d} = u32(n${d} / ${g.stride[i]});
        if (o${d} >= ${g.out[i]}u) { continue; }`,
    )
    .join("\n");
  const total = g.n * g.cin * g.in[0] * g.in[1] * g.in[2];
  return elementwise(
    {
      name: "conv-backward-data",
      shape: `${shapeOf(g)} ${storeTag(store)}`,
      binds: [{ name: "dy" }, { name: "wt" }, ...storeBinds(store)],
      flops: 2 * macs(g),
    },
    total,
    `${unflatten("idx", [
      ["w", g.in[2]],
      ["h", g.in[1]],
      ["t", g.in[0]],
      ["c", g.cin],
      ["n", g.n],
    ])}
  let grp = c / ${cinG}u;
  let ci = c % ${cinG}u;
  var acc = 0.0;
  for (var col = 0u; col < ${coutG}u; col = col + 1u) {
    let co = grp * ${coutG}u + col;
    ${loops}
    acc = acc + dy[${yAt(g, "n", "co", "ot", "oh", "ow")}] * wt[${wAt(g, "co", "ci", "kt", "kh", "kw")}];
    } } }
  }
  ${storeGrad(store, "idx", "acc")}`,
    limits,
  );
}

/** Weight gradient: one workgroup per weight element reduces x * dy over every output position. */
export function convBackwardWeight(g: ConvGeometry, limits: KernelLimits): TrainKernel {
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  const positions = g.n * g.out[0] * g.out[1] * g.out[2];
  const items = g.cout * cinG * g.kernel[0] * g.kernel[1] * g.kernel[2];
  const inside = dims
    .map((d, i) => `let i${d}s = i32(o${d} * ${g.stride[i]}u + k${d}) - ${g.pad[i]};`)
    .join(" ");
  const bounds = dims.map((d, i) => `i${d}s >= 0 && i${d}s < ${g.in[i]}`).join(" && ");
  return reduction(
    {
      name: "conv-backward-weight",
      shape: shapeOf(g),
      binds: [{ name: "x" }, { name: "dy" }, { name: "dw", write: true }],
      flops: 2 * macs(g),
    },
    items,
    {
      count: positions,
      setup: `${unflatten("item", [
        ["kw", g.kernel[2]],
        ["kh", g.kernel[1]],
        ["kt", g.kernel[0]],
        ["ci", cinG],
        ["co", g.cout],
      ])}
  let c = (co / ${coutG}u) * ${cinG}u + ci;`,
      term: `${unflatten("i", [
        ["ow", g.out[2]],
        ["oh", g.out[1]],
        ["ot", g.out[0]],
        ["n", g.n],
      ])}
    ${inside}
    if (${bounds}) {
      acc_s = acc_s + x[${xAt(g, "n", "c", "u32(its)", "u32(ihs)", "u32(iws)")}] * dy[${yAt(g, "n", "co", "ot", "oh", "ow")}];
    }`,
      sums: ["s"],
      finish: "dw[item] = total_s;",
    },
    limits,
  );
}

/** The gradient of a per-channel bias: dy summed over N and every position. */
export function channelSum(
  n: number,
  channels: number,
  positions: number,
  limits: KernelLimits,
): TrainKernel {
  return reduction(
    {
      name: "channel-sum",
      shape: `${n}x${channels}x${positions}`,
      binds: [{ name: "dy" }, { name: "db", write: true }],
    },
    channels,
    {
      count: n * positions,
      term: `let b = i / ${positions}u; let p = i % ${positions}u;
    acc_s = acc_s + dy[(b * ${channels}u + item) * ${positions}u + p];`,
      sums: ["s"],
      finish: "db[item] = total_s;",
    },
    limits,
  );
}
