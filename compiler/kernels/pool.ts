// Windowed max and average pooling, channels-last, one output position x 4 channels (vec4)
// per invocation. Max pooling treats padding as -infinity; average pooling counts padded
// positions as zeros and divides by the window volume (PyTorch's count_include_pad default).
import type { PoolAttrs, Triple } from "../ir.js";
import type { Kernel, KernelLimits } from "./common.js";
import { entry, f32, grid, makeKernel, unflatten } from "./common.js";
import {
  arithOf,
  bufferArray,
  f32Io,
  formatSuffix,
  storedBytes,
  type IoFormats,
} from "./format.js";
import { bufferInput, skipOutside, textureInput } from "./operand.js";
import type { ActivationTexture } from "./texture.js";

export interface PoolSpec extends PoolAttrs {
  readonly kind: "maxpool" | "avgpool";
  readonly n: number;
  readonly c: number;
  readonly input: Triple;
  readonly output: Triple;
  /** How input and output are stored; absent: float32. */
  readonly formats?: IoFormats;
}

export const poolVectorises = (s: PoolSpec) => s.c % 4 === 0;

/**
 * `texture`: read the input from a staging texture (see texture.ts): without a border, or, for
 * average pooling, bordered by the window's padding (zeros, as average pooling counts them).
 */
export function pool(s: PoolSpec, limits: KernelLimits, texture?: ActivationTexture): Kernel {
  const vec = poolVectorises(s);
  const border = texture?.pad.some((p) => p > 0) ? `-border${texture.pad.join("x")}` : "";
  const name = `${s.kind}${texture ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}${border}${formatSuffix(s.formats)}`;
  const f = s.formats ?? f32Io;
  const out = bufferArray(f.output, vec ? 4 : 1, arithOf(f));
  // A border holds zeros, which are not a max pool's padding.
  const bordered = texture?.pad.every((p, i) => p === s.pad[i]) && s.kind === "avgpool";
  if (texture && (!vec || (border && !bordered)))
    throw new Error(`csnc bug: ${name} was chosen for an input it cannot read`);
  const C = vec ? s.c / 4 : s.c;
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const total = s.n * To * Ho * Wo * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const max = s.kind === "maxpool";
  const shape = [s.n, s.c, T, H, W];
  const inp = texture
    ? textureInput(shape, texture, s.pad)
    : bufferInput(shape, vec ? 4 : 1, f.input, arithOf(f));
  const wgsl = `// ${name}: input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}, C=${s.c}; channels-last${vec ? ", vec4 along C" : ""}.
${inp.declaration(0)}
${out.declaration(1, "out", true)}
${entry(g.nx, total)}
  ${unflatten("idx", [
    ["c", C],
    ["wo", Wo],
    ["ho", Ho],
    ["to", To],
    ["n", s.n],
  ])}
  var acc = ${t}(${max ? "-3.402823e38" : "0.0"});
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = i32(to * ${s.stride[0]}u) - ${s.pad[0]} + kt;
    ${skipOutside(inp, `it >= 0 && it < ${T}`)}
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = i32(ho * ${s.stride[1]}u) - ${s.pad[1]} + kh;
      ${skipOutside(inp, `ih >= 0 && ih < ${H}`)}
      ${inp.row("row", "n", "it", "ih")}
      for (var kw = 0; kw < ${KW}; kw++) {
        let iw = i32(wo * ${s.stride[2]}u) - ${s.pad[2]} + kw;
        ${skipOutside(inp, `iw >= 0 && iw < ${W}`)}
        let x = ${inp.load("row", "iw", "i32(c)")};
        ${max ? "acc = max(acc, x);" : "acc = acc + x;"}
      }
    }
  }
  ${out.store("out", "idx", max ? "acc" : `acc * ${f32(1 / (KT * KH * KW))}`)}
}
`;
  const elems = s.n * s.c;
  return makeKernel({
    family: "pool",
    choice: texture
      ? { family: "pool", storage: "texture", ...(border ? { border: true } : {}) }
      : { family: "pool", storage: "buffer" },
    name,
    shape: JSON.stringify(s),
    wgsl,
    grid: g,
    bindings: ["input", "output"],
    ...(texture ? { textures: { input: texture } } : {}),
    flops: elems * To * Ho * Wo * KT * KH * KW,
    bytes: storedBytes(elems * T * H * W, f.input) + storedBytes(elems * To * Ho * Wo, f.output),
  });
}

/** Mean over T, H and W: one invocation per (sample, 4 channels). */
export function globalAvgPool(
  n: number,
  c: number,
  input: Triple,
  limits: KernelLimits,
  formats: IoFormats = f32Io,
): Kernel {
  const vec = c % 4 === 0;
  const C = vec ? c / 4 : c;
  const P = input[0] * input[1] * input[2];
  const total = n * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const name = `global-avgpool-${vec ? "vec4" : "scalar"}${formatSuffix(formats)}`;
  const inp = bufferArray(formats.input, vec ? 4 : 1, arithOf(formats));
  const out = bufferArray(formats.output, vec ? 4 : 1, arithOf(formats));
  const wgsl = `// ${name}: mean over ${P} positions (T*H*W = ${input.join("x")}), C=${c}; channels-last.
${inp.declaration(0, "inp")}
${out.declaration(1, "out", true)}
${entry(g.nx, total)}
  ${unflatten("idx", [
    ["c", C],
    ["n", n],
  ])}
  var acc = ${t}(0.0);
  var i = n * ${P * C}u + c;
  for (var p = 0u; p < ${P}u; p++) { acc = acc + ${inp.load("inp", "i")}; i += ${C}u; }
  ${out.store("out", "idx", `acc * ${f32(1 / P)}`)}
}
`;
  return makeKernel({
    family: "global-avgpool",
    choice: { family: "global-avgpool" },
    name,
    shape: JSON.stringify({ n, c, input, formats }),
    wgsl,
    grid: g,
    bindings: ["input", "output"],
    flops: n * c * P,
    bytes: storedBytes(n * c * P, formats.input) + storedBytes(n * c, formats.output),
  });
}
