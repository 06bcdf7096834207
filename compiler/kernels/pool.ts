// Windowed max and average pooling, channels-last, one output position x 4 channels (vec4)
// per invocation. Max pooling treats padding as -infinity; average pooling counts padded
// positions as zeros and divides by the window volume (PyTorch's count_include_pad default).
import type { PoolAttrs, Triple } from "../ir.js";
import { binding, entry, f32, grid, type Kernel, type KernelLimits } from "./common.js";
import { texel, textureBinding, type ActivationTexture } from "./texture.js";

export interface PoolSpec extends PoolAttrs {
  readonly kind: "maxpool" | "avgpool";
  readonly n: number;
  readonly c: number;
  readonly input: Triple;
  readonly output: Triple;
}

/** `texture`: read the input from a staging texture without a border (see texture.ts). */
export function pool(s: PoolSpec, limits: KernelLimits, texture?: ActivationTexture): Kernel {
  const vec = s.c % 4 === 0;
  const tex = texture !== undefined && vec && texture.pad.every((p) => p === 0);
  const C = vec ? s.c / 4 : s.c;
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const total = s.n * To * Ho * Wo * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const max = s.kind === "maxpool";
  const init = max
    ? vec
      ? "vec4<f32>(-3.402823e38)"
      : "-3.402823e38"
    : vec
      ? "vec4<f32>(0.0)"
      : "0.0";
  const name = `${s.kind}${tex ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}`;
  const wgsl = `// ${name}: input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}, C=${s.c}; channels-last${vec ? ", vec4 along C" : ""}.
${tex ? textureBinding(0, "inp") : binding(0, "inp", t)}
${binding(1, "out", t, true)}
${entry(g.nx, total)}
  let c = idx % ${C}u; var r = idx / ${C}u;
  let wo = r % ${Wo}u; r = r / ${Wo}u;
  let ho = r % ${Ho}u; r = r / ${Ho}u;
  let to = r % ${To}u; let n = r / ${To}u;
  var acc = ${init};
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = i32(to * ${s.stride[0]}u) - ${s.pad[0]} + kt;
    if (it < 0 || it >= ${T}) { continue; }
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = i32(ho * ${s.stride[1]}u) - ${s.pad[1]} + kh;
      if (ih < 0 || ih >= ${H}) { continue; }
      for (var kw = 0; kw < ${KW}; kw++) {
        let iw = i32(wo * ${s.stride[2]}u) - ${s.pad[2]} + kw;
        if (iw < 0 || iw >= ${W}) { continue; }
        let x = ${tex ? texel("inp", `iw * ${C} + i32(c)`, `i32(n * ${T * H}u) + it * ${H} + ih`) : `inp[(((n * ${T}u + u32(it)) * ${H}u + u32(ih)) * ${W}u + u32(iw)) * ${C}u + c]`};
        ${max ? "acc = max(acc, x);" : "acc = acc + x;"}
      }
    }
  }
  out[idx] = ${max ? "acc" : `acc * ${f32(1 / (KT * KH * KW))}`};
}
`;
  const elems = s.n * s.c;
  return {
    name,
    wgsl,
    workgroupSize: 64,
    dispatch: g.dispatch,
    bindings: ["input", "output"],
    ...(tex ? { textures: { input: texture } } : {}),
    flops: elems * To * Ho * Wo * KT * KH * KW,
    bytes: 4 * elems * (T * H * W + To * Ho * Wo),
  };
}

/** Mean over T, H and W: one invocation per (sample, 4 channels). */
export function globalAvgPool(n: number, c: number, input: Triple, limits: KernelLimits): Kernel {
  const vec = c % 4 === 0;
  const C = vec ? c / 4 : c;
  const P = input[0] * input[1] * input[2];
  const total = n * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const name = `global-avgpool-${vec ? "vec4" : "scalar"}`;
  const wgsl = `// ${name}: mean over ${P} positions (T*H*W = ${input.join("x")}), C=${c}; channels-last.
${binding(0, "inp", t)}
${binding(1, "out", t, true)}
${entry(g.nx, total)}
  let c = idx % ${C}u; let n = idx / ${C}u;
  var acc = ${vec ? "vec4<f32>(0.0)" : "0.0"};
  var i = n * ${P * C}u + c;
  for (var p = 0u; p < ${P}u; p++) { acc = acc + inp[i]; i += ${C}u; }
  out[idx] = acc * ${f32(1 / P)};
}
`;
  return {
    name,
    wgsl,
    workgroupSize: 64,
    dispatch: g.dispatch,
    bindings: ["input", "output"],
    flops: n * c * P,
    bytes: 4 * n * c * (P + 1),
  };
}
