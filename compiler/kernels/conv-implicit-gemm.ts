// A dense (one group) convolution as an implicit GEMM, for the stem (3x7x7 over the clip's 3
// channels) and other direct convs: out[M][Cout] = A[M][K] x B[K][Cout] with M = N*To*Ho*Wo and
// K = kT*kH*kW*Cin, where A (the im2col matrix) is never stored: `loadA` gathers element (m, k)
// from the input as it is laid out (the clip channels-first as given, channels-last, a staged
// texture or the clip texture), zero in the padding. The body is gemm-tiled.ts's, with scalar K
// units. Weights: the direct layout, [tap][Cin][Cout] then the bias, whose row order is K's.
import type { GemmTile } from "./choice.js";
import { unflatten, type Kernel, type KernelLimits } from "./common.js";
import { directTexturable } from "./conv-direct.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import { convKernel, convOperands, prod, storageOf, unsupported } from "./conv-spec.js";
import { gemmStorageBytes, tiledGemm } from "./gemm-tiled.js";
import { fitsWorkgroup } from "./workgroup.js";

/** Whether conv-implicit-gemm can run `s` with `tile` (one group, Cout in fours) on these limits. */
export function implicitGemmFits(s: ConvSpec, tile: GemmTile, limits: KernelLimits): boolean {
  return (
    s.groups === 1 &&
    s.cout % 4 === 0 &&
    fitsWorkgroup(tile.wm * tile.wn, gemmStorageBytes(tile, 1), limits)
  );
}

/** `textures`: the input (staged or the clip's) and weights as textures, see texture.ts. */
export function convImplicitGemm(
  s: ConvSpec,
  limits: KernelLimits,
  tile: GemmTile,
  textures?: ConvTextures,
): Kernel {
  const clip = s.channelsFirstInput === true;
  const t = tile;
  const from = textures ? (clip ? "-tex-clip" : "-tex") : clip ? "-ncthw" : "";
  const name = `conv-implicit-gemm${from}-k${s.kernel.join("x")}-s${s.stride.join("x")}-${t.wm * t.tm}x${t.wn * t.tn * 4}-t${t.tm}x${t.tn}-k${t.bk}`;
  if (s.groups !== 1) unsupported(name, `${s.groups} groups`);
  if (s.cout % 4 !== 0) unsupported(name, "output channels not in fours");
  if (textures && !directTexturable(s)) unsupported(name, "its channels do not fill texels");
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [, KH, KW] = s.kernel;
  const [sT, sH, sW] = s.stride;
  const [pT, pH, pW] = s.pad;
  const C = s.cin;
  const N = s.cout / 4;
  const M = s.n * prod(s.output);
  const K = prod(s.kernel) * C;
  const { inp, wts, io, declarations, num } = convOperands(s, 1, "vec4<f32>", N, textures);
  // A texel holds `lanes` channels (all of the clip's, or 4 staged ones): pick the component.
  const lanes = inp.lanes;
  const value =
    inp.type === "f32"
      ? inp.raw("v", "iw", "i32(ci)")
      : `${inp.raw("v", "iw", `i32(ci / ${lanes}u)`)}[ci % ${lanes}u]`;
  const loaders = `// Where output row m's window starts: (n, t, h, w) of its first tap, padding included.
fn rowOf(m: u32) -> vec4<i32> {
  ${unflatten("m", [
    ["wo", Wo],
    ["ho", Ho],
    ["to", To],
    ["n", s.n],
  ])}
  return vec4<i32>(i32(n), i32(to * ${sT}u) - ${pT}, i32(ho * ${sH}u) - ${pH}, i32(wo * ${sW}u) - ${pW});
}
// A (m, k): input channel ci at tap (kt, kh, kw) of output row m's window, k = tap * ${C} + ci.
fn loadA(row: vec4<i32>, m: u32, k: u32) -> ${num.type(1)} {
  if (m >= ${M}u || k >= ${K}u) { return 0.0; }
  let ci = k % ${C}u; let tap = k / ${C}u;
  let it = row.y + i32(tap / ${KW * KH}u);
  let ih = row.z + i32((tap / ${KW}u) % ${KH}u);
  let iw = row.w + i32(tap % ${KW}u);
  if (it < 0 || it >= ${T} || ih < 0 || ih >= ${H} || iw < 0 || iw >= ${W}) { return 0.0; }
  ${inp.row("v", "row.x", "it", "ih")}
  return ${value};
}
// B (k, n): the weights of K row k for output channels 4n..4n+3.
fn loadB(k: u32, n: u32) -> ${num.type(4)} {
  if (k >= ${K}u || n >= ${N}u) { return ${num.type(4)}(0.0); }
  return ${wts.raw("i32(k)", "i32(n)")};
}`;
  const layout = textures
    ? `texture, ${lanes} channel(s) a texel`
    : clip
      ? "[N][Cin][T][H][W] (the model input as given)"
      : "[N][T][H][W][Cin] (channels-last)";
  const { wgsl, grid } = tiledGemm(
    {
      name,
      M,
      N,
      K,
      kLanes: 1,
      tile,
      declarations,
      loaders,
      comment: `conv ${C}->${s.cout} as implicit GEMM [M=${M}, K=${K}] x [K, N=${s.cout}], input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts: inp ${layout}, wts [tap][Cin][Cout] (vec4 along Cout) then bias, res/out [N][To][Ho][Wo][Cout].`,
      epilogue: s.epilogue,
      arith: num.arith,
      io,
      bias: (n) => wts.load(`${K}`, `i32(${n})`),
    },
    limits,
  );
  const choice = { family: "conv-implicit-gemm", storage: storageOf(textures), tile } as const;
  return convKernel(s, choice, "direct", { name, wgsl, grid, textures });
}
