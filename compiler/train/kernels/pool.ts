// Max pooling (argmax saved in the forward pass, PyTorch's first maximum) and global average
// pooling, forward and backward.
import type { KernelLimits } from "../../kernels/common.js";
import type { TrainKernel } from "../program.js";
import {
  elementwise,
  f32,
  storeBinds,
  storeGrad,
  storeTag,
  unflatten,
  type GradStore,
} from "./wgsl.js";

export interface PoolGeometry {
  /** N x C planes. */
  readonly planes: number;
  readonly in: readonly [number, number, number];
  readonly out: readonly [number, number, number];
  readonly kernel: readonly [number, number, number];
  readonly stride: readonly [number, number, number];
  readonly pad: readonly [number, number, number];
}

const shapeOf = (g: PoolGeometry) =>
  `${g.planes}x${g.in.join("x")}->${g.out.join("x")} k${g.kernel.join("x")} s${g.stride.join("x")} p${g.pad.join("x")}`;
const dims = ["t", "h", "w"] as const;
const volume = (d: readonly number[]) => d[0]! * d[1]! * d[2]!;

/** One invocation per output: the maximum and its index in the input volume (first on ties). */
export function maxPoolForward(g: PoolGeometry, limits: KernelLimits): TrainKernel {
  const loops = dims
    .map(
      (d, i) => `for (var k${d} = 0u; k${d} < ${g.kernel[i]}u; k${d} = k${d} + 1u) {
      let i${d}s = i32(o${d} * ${g.stride[i]}u + k${d}) - ${g.pad[i]};
      if (i${d}s < 0 || i${d}s >= ${g.in[i]}) { continue; }`,
    )
    .join("\n");
  return elementwise(
    {
      name: "maxpool-forward",
      shape: shapeOf(g),
      binds: [{ name: "x" }, { name: "y", write: true }, { name: "arg", type: "u32", write: true }],
    },
    g.planes * volume(g.out),
    `${unflatten("idx", [
      ["ow", g.out[2]],
      ["oh", g.out[1]],
      ["ot", g.out[0]],
      ["plane", g.planes],
    ])}
  var best = -3.4e38;
  var at = 0u;
  ${loops}
      let local = (u32(its) * ${g.in[1]}u + u32(ihs)) * ${g.in[2]}u + u32(iws);
      let v = x[plane * ${volume(g.in)}u + local];
      if (v > best) { best = v; at = local; }
  } } }
  y[idx] = best;
  arg[idx] = at;`,
    limits,
  );
}

/** Gathered: each input element sums dy of the windows that chose it. */
export function maxPoolBackward(
  g: PoolGeometry,
  store: GradStore,
  limits: KernelLimits,
): TrainKernel {
  // The outputs whose window holds input coordinate c: o * s - p <= c <= o * s - p + k - 1.
  const loops = dims
    .map(
      (d, i) => `let ${d}lo = max(i32(${d}) + ${g.pad[i]} - ${g.kernel[i] - 1}, 0);
  let ${d}first = (${d}lo + ${g.stride[i] - 1}) / ${g.stride[i]};
  let ${d}last = min((i32(${d}) + ${g.pad[i]}) / ${g.stride[i]}, ${g.out[i] - 1});
  for (var o${d} = ${d}first; o${d} <= ${d}last; o${d} = o${d} + 1) {`,
    )
    .join("\n");
  return elementwise(
    {
      name: "maxpool-backward",
      shape: `${shapeOf(g)} ${storeTag(store)}`,
      binds: [{ name: "dy" }, { name: "arg", type: "u32" }, ...storeBinds(store)],
    },
    g.planes * volume(g.in),
    `${unflatten("idx", [
      ["w", g.in[2]],
      ["h", g.in[1]],
      ["t", g.in[0]],
      ["plane", g.planes],
    ])}
  let local = (t * ${g.in[1]}u + h) * ${g.in[2]}u + w;
  var acc = 0.0;
  ${loops}
    let o = plane * ${volume(g.out)}u + (u32(ot) * ${g.out[1]}u + u32(oh)) * ${g.out[2]}u + u32(ow);
    if (arg[o] == local) { acc = acc + dy[o]; }
  } } }
  ${storeGrad(store, "idx", "acc")}`,
    limits,
  );
}

/** Mean over T, H, W of each plane: one invocation per plane. */
export function globalAvgPoolForward(
  planes: number,
  positions: number,
  limits: KernelLimits,
): TrainKernel {
  return elementwise(
    {
      name: "global-avgpool-forward",
      shape: `${planes}x${positions}`,
      binds: [{ name: "x" }, { name: "y", write: true }],
    },
    planes,
    `var s = 0.0;
  for (var p = 0u; p < ${positions}u; p = p + 1u) { s = s + x[idx * ${positions}u + p]; }
  y[idx] = s / ${f32(positions)};`,
    limits,
  );
}

export function globalAvgPoolBackward(
  planes: number,
  positions: number,
  store: GradStore,
  limits: KernelLimits,
): TrainKernel {
  return elementwise(
    {
      name: "global-avgpool-backward",
      shape: `${planes}x${positions} ${storeTag(store)}`,
      binds: [{ name: "dy" }, ...storeBinds(store)],
    },
    planes * positions,
    storeGrad(store, "idx", `dy[idx / ${positions}u] / ${f32(positions)}`),
    limits,
  );
}
