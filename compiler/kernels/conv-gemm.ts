// 1x1x1 convolution as a workgroup-memory tiled GEMM (the GPU-grade sibling of conv-pointwise):
// out[M, Cout] = in[M, Cin] x W[Cin, Cout], M = N*To*Ho*Wo, the body in gemm-tiled.ts. A units are
// vec4s of input channels, staged once per workgroup instead of once per invocation; output rows
// map to (strided) input positions as in conv-pointwise, so the projection shortcuts share the
// body. Any M and any Cout in fours: the edges of the last blocks are masked. Weights: the
// pointwise layout, [Cin][Cout] then the bias [Cout].
import type { GemmTile } from "./choice.js";
import { unflatten, type Kernel, type KernelLimits } from "./common.js";
import { canVectorise } from "./conv-pointwise.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import { convKernel, convOperands, prod, storageOf, unsupported } from "./conv-spec.js";
import { gemmStorageBytes, tiledGemm } from "./gemm-tiled.js";
import { fitsWorkgroup } from "./workgroup.js";

/** Whether conv-gemm can run `s` with `tile` on these limits. */
export function gemmFits(s: ConvSpec, tile: GemmTile, limits: KernelLimits): boolean {
  return canVectorise(s) && fitsWorkgroup(tile.wm * tile.wn, gemmStorageBytes(tile, 4), limits);
}

const name = (s: ConvSpec, t: GemmTile, textures: ConvTextures | undefined) =>
  `conv-gemm${s.stride.some((x) => x !== 1) ? "-strided" : ""}${textures ? "-tex" : ""}-vec4-${t.wm * t.tm}x${t.wn * t.tn * 4}-t${t.tm}x${t.tn}-k${t.bk}`;

/** `textures`: the input and weights as textures (see texture.ts), both vec4 along channels. */
export function convGemm(
  s: ConvSpec,
  limits: KernelLimits,
  tile: GemmTile,
  textures?: ConvTextures,
): Kernel {
  const kernelName = name(s, tile, textures);
  if (!canVectorise(s)) unsupported(kernelName, "it needs channels in fours");
  if (!s.kernel.every((k) => k === 1) || s.groups !== 1 || s.pad.some((p) => p !== 0))
    unsupported(kernelName, "not a 1x1x1 conv");
  const K = s.cin / 4;
  const N = s.cout / 4;
  const [To, Ho, Wo] = s.output;
  const M = s.n * prod(s.output);
  const { inp, wts, io, declarations, num } = convOperands(s, 4, "vec4<f32>", N, textures);
  const loaders = `// Where output row m reads: its (strided) input position's row cursor and column.
fn rowOf(m: u32) -> vec4<i32> {
  ${unflatten("m", [
    ["wo", Wo],
    ["ho", Ho],
    ["to", To],
    ["n", s.n],
  ])}
  ${inp.row("v", "n", `i32(to * ${s.stride[0]}u)`, `i32(ho * ${s.stride[1]}u)`)}
  return vec4<i32>(v, i32(wo * ${s.stride[2]}u), 0, 0);
}
// A unit (m, k): input channels 4k..4k+3 of output row m, read at \`row\` (its rowOf).
fn loadA(row: vec4<i32>, m: u32, k: u32) -> ${num.type(4)} {
  if (m >= ${M}u || k >= ${K}u) { return ${num.type(4)}(0.0); }
  return ${inp.raw("row.x", "row.y", "i32(k)")};
}
// B (k, n): the weights of input channel k for output channels 4n..4n+3.
fn loadB(k: u32, n: u32) -> ${num.type(4)} {
  if (k >= ${s.cin}u || n >= ${N}u) { return ${num.type(4)}(0.0); }
  return ${wts.raw("i32(k)", "i32(n)")};
}`;
  const { wgsl, grid } = tiledGemm(
    {
      name: kernelName,
      M,
      N,
      K,
      kLanes: 4,
      tile,
      declarations,
      loaders,
      comment: `1x1x1 conv as GEMM [M=${M}, K=${s.cin}] x [K, N=${s.cout}]${s.stride.some((x) => x !== 1) ? `, stride ${s.stride.join("x")}` : ""}.
// Layouts (channels-last, vec4 along channels): inp [M_in][K], wts [K][N] then bias [N], out [M][N]${textures ? "; inp and wts as textures" : ""}.`,
      epilogue: s.epilogue,
      arith: num.arith,
      io,
      bias: (n) => wts.load(`${s.cin}`, `i32(${n})`),
    },
    limits,
  );
  const choice = { family: "conv-gemm", storage: storageOf(textures), tile } as const;
  return convKernel(s, choice, "pointwise", { name: kernelName, wgsl, grid, textures });
}
