// Depthwise kT x kH x kW convolution (groups = channels) with its input halo in workgroup memory:
// a workgroup owns th x tw output positions (along H and W) of one (n, to) for cg channel groups
// (vec4, or scalar channels), one invocation per output. All invocations first stage the tile's
// whole input window, kT x R x P positions (R = (th-1)*sH + kH, P = (tw-1)*sW + kW) x cg groups,
// once each, zero outside the input, then each invocation reads its kT*kH*kW taps from workgroup
// memory instead of device memory (the 3x3x3 convs read each input about 27 times). Weights: the
// depthwise layout, [kT*kH*kW][C] then bias [C].
import type { HaloTile } from "./choice.js";
import { applyEpilogue, unflatten, type Kernel, type KernelLimits } from "./common.js";
import { depthwiseVectorises } from "./conv-depthwise.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import { convKernel, convOperands, storageOf, unsupported } from "./conv-spec.js";
import { checkWorkgroup, fitsWorkgroup, workgroupEntry, workgroupGrid } from "./workgroup.js";

export type { HaloTile };

/** Input positions of one tile's window: kT x R x P. */
function haloExtent(s: ConvSpec, tile: HaloTile): [number, number, number] {
  return [
    s.kernel[0],
    (tile.th - 1) * s.stride[1] + s.kernel[1],
    (tile.tw - 1) * s.stride[2] + s.kernel[2],
  ];
}

const haloBytes = (s: ConvSpec, tile: HaloTile) =>
  haloExtent(s, tile).reduce((a, b) => a * b, 1) * tile.cg * (depthwiseVectorises(s) ? 16 : 4);

/** Whether conv-depthwise-halo can run `s` with `tile` on these limits. */
export function haloFits(s: ConvSpec, tile: HaloTile, limits: KernelLimits): boolean {
  return fitsWorkgroup(tile.th * tile.tw * tile.cg, haloBytes(s, tile), limits);
}

/** `textures`: the input and weights as textures (see texture.ts), vec4 along channels. */
export function convDepthwiseHalo(
  s: ConvSpec,
  limits: KernelLimits,
  tile: HaloTile,
  textures?: ConvTextures,
): Kernel {
  const vec = depthwiseVectorises(s);
  const { th, tw, cg } = tile;
  const name = `conv-depthwise-halo${textures ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}-${th}x${tw}x${cg}`;
  if (textures && !vec) unsupported(name, "texture inputs need channels in fours");
  if (s.groups !== s.cin || s.cout !== s.cin) unsupported(name, "not a depthwise conv");
  const threads = th * tw * cg;
  checkWorkgroup(name, threads, haloBytes(s, tile), limits);
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const [sT, sH, sW] = s.stride;
  const [pT, pH, pW] = s.pad;
  const [, R, P] = haloExtent(s, tile);
  const C = vec ? s.cin / 4 : s.cin;
  const CT = Math.ceil(C / cg);
  const WT = Math.ceil(Wo / tw);
  const HT = Math.ceil(Ho / th);
  const groups = s.n * To * HT * WT * CT;
  const g = workgroupGrid(groups, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = `${t}(0.0)`;
  const { inp, wts, io, declarations, num } = convOperands(s, vec ? 4 : 1, t, C, textures);
  const halo = KT * R * P * cg;
  const wgsl = `// ${name}: depthwise conv, C=${s.cin}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts (channels-last): inp [N][T][H][W][C], wts [tap][C] then bias [C], out [N][To][Ho][Wo][C]${vec ? ", vec4 along C" : ""}${textures ? "; inp and wts as textures" : ""}.
// Workgroup wg -> channel groups (wg % ${CT}) * ${cg} (x${cg}), a ${th}x${tw} output tile along H and W, then To, N.
// Invocation lid -> channel group lid % ${cg}, output (lid / ${cg * tw}, (lid / ${cg}) % ${tw}) of the tile.
// halo [${KT}][${R}][${P}][${cg}]: the tile's input window, staged by all invocations, zero outside the input.
${declarations}
var<workgroup> halo: array<${num.type(vec ? 4 : 1)}, ${halo}>;
${workgroupEntry(threads, g.nx, groups)}
  ${unflatten("wg", [
    ["ct", CT],
    ["wt", WT],
    ["ht", HT],
    ["to", To],
    ["n", s.n],
  ])}
  let c0 = ct * ${cg}u; let ho0 = ht * ${th}u; let wo0 = wt * ${tw}u;
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho0 * ${sH}u) - ${pH}; let w0 = i32(wo0 * ${sW}u) - ${pW};
  for (var e = lid; e < ${halo}u; e += ${threads}u) {
    let ec = e % ${cg}u; let ep = i32((e / ${cg}u) % ${P}u); let er = i32((e / ${cg * P}u) % ${R}u); let et = i32(e / ${cg * P * R}u);
    let it = t0 + et; let ih = h0 + er; let iw = w0 + ep; let ch = c0 + ec;
    var x = ${num.type(vec ? 4 : 1)}(0.0);
    if (it >= 0 && it < ${T} && ih >= 0 && ih < ${H} && iw >= 0 && iw < ${W} && ch < ${C}u) {
      ${inp.row("row", "n", "it", "ih")}
      x = ${inp.raw("row", "iw", "i32(ch)")};
    }
    halo[e] = x;
  }
  workgroupBarrier();
  let c = lid % ${cg}u; let j = (lid / ${cg}u) % ${tw}u; let i = lid / ${cg * tw}u;
  let ch = c0 + c; let ho = ho0 + i; let wo = wo0 + j;
  if (ch < ${C}u && ho < ${Ho}u && wo < ${Wo}u) {
    var acc = ${zero};
    for (var kt = 0u; kt < ${KT}u; kt++) {
      for (var kh = 0u; kh < ${KH}u; kh++) {
        let base = ((kt * ${R}u + i * ${sH}u + kh) * ${P}u + j * ${sW}u) * ${cg}u + c;
        for (var kw = 0u; kw < ${KW}u; kw++) {
          acc += ${num.widen(`halo[base + kw * ${cg}u] * ${wts.raw(`i32((kt * ${KH}u + kh) * ${KW}u + kw)`, "i32(ch)")}`, vec ? 4 : 1)};
        }
      }
    }
    let o = (((n * ${To}u + to) * ${Ho}u + ho) * ${Wo}u + wo) * ${C}u + ch;
    var v = acc; ${applyEpilogue(s.epilogue, "v", wts.load(`${KT * KH * KW}`, "i32(ch)"), io.res("o"), zero)}
    ${io.store("o", "v")}
  }
}
`;
  const choice = { family: "conv-depthwise-halo", storage: storageOf(textures), tile } as const;
  return convKernel(s, choice, "depthwise", { name, wgsl, grid: g, textures });
}
