// Depthwise kT x kH x kW convolution (groups = channels), any kernel and stride. Each invocation
// computes a TH x TW tile of output positions (along H and W) for 4 channels (vec4 along
// channels-last C). The tile's windows overlap, so each input vec4 of a kernel-depth slice is
// loaded once and feeds every output whose window holds it, and each weight vec4 once per tile.
// Weights: [kT*kH*kW][C], then bias [C].
import { applyEpilogue, entry, grid, unflatten, type Kernel, type KernelLimits } from "./common.js";
import type { DepthwiseTile } from "./choice.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import { convKernel, convOperands, storageOf, unsupported } from "./conv-spec.js";
import { blockInside, skipOutside } from "./operand.js";

export type { DepthwiseTile };

export const depthwiseVectorises = (s: ConvSpec) => s.cin % 4 === 0;

/**
 * `textures`: the input and weights as textures (see texture.ts), the input staged with a zero
 * border of the conv's padding, so taps need no bounds checks.
 */
export function convDepthwise(
  s: ConvSpec,
  limits: KernelLimits,
  tile: DepthwiseTile,
  textures?: ConvTextures,
): Kernel {
  const vec = depthwiseVectorises(s);
  const { th, tw } = tile;
  const name = `conv-depthwise${textures ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}-${th > 1 ? `th${th}-` : ""}tw${tw}`;
  if (textures && !vec) unsupported(name, "texture inputs need channels in fours");
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  if (tw > Wo || th > Ho) unsupported(name, `a tile wider than the ${Ho}x${Wo} output`);
  const C = vec ? s.cin / 4 : s.cin;
  const [KT, KH, KW] = s.kernel;
  const [sT, sH, sW] = s.stride;
  const [pT, pH, pW] = s.pad;
  const WT = Math.ceil(Wo / tw);
  const HT = Math.ceil(Ho / th);
  const total = s.n * To * HT * WT * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = `${t}(0.0)`;
  const { inp, wts, io, declarations, num } = convOperands(s, vec ? 4 : 1, t, C, textures);
  if (textures && !inp.bordered) unsupported(name, "a texture without the conv's border");
  const range = (k: number) => [...Array(k).keys()];
  const taps = KT * KH * KW;
  // Input rows and columns one kernel-depth slice of the tile needs.
  const R = (th - 1) * sH + KH;
  const P = (tw - 1) * sW + KW;
  // The row q of the slice feeds output row i through kernel row q - i * sH.
  const rowTerms = (q: number) =>
    range(th).flatMap((i) => {
      const kh = q - i * sH;
      if (kh < 0 || kh >= KH) return [];
      return range(tw).map(
        (j) =>
          `acc${i}_${j} += ${num.widen(
            range(KW)
              .map((kw) => `x${j * sW + kw} * wv${kh}_${kw}`)
              .join(" + "),
            vec ? 4 : 1,
          )};`,
      );
    });
  const wgsl = `// ${name}: depthwise conv, C=${s.cin}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts (channels-last): inp [N][T][H][W][C], wts [tap][C] then bias [C], out [N][To][Ho][Wo][C]${vec ? ", vec4 along C" : ""}${textures ? "; inp and wts as textures" : ""}.
// Invocation idx -> channel group idx % ${C}, then a ${th}x${tw} tile of outputs along H and W, then To, N.
${declarations}
${entry(g.nx, total)}
  ${unflatten("idx", [
    ["c", C],
    ["wt", WT],
    ["ht", HT],
    ["to", To],
    ["n", s.n],
  ])}
  let wo0 = wt * ${tw}u; let ho0 = ht * ${th}u;
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho0 * ${sH}u) - ${pH};
  let w0 = i32(wo0 * ${sW}u) - ${pW};
  ${range(th)
    .flatMap((i) => range(tw).map((j) => `var acc${i}_${j} = ${zero};`))
    .join(" ")}
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = t0 + kt;
    ${skipOutside(inp, `it >= 0 && it < ${T}`)}
    ${range(KH)
      .map((kh) =>
        range(KW)
          .map(
            (kw) =>
              `let wv${kh}_${kw} = ${wts.raw(`kt * ${KH * KW} + ${kh * KW + kw}`, "i32(c)")};`,
          )
          .join(" "),
      )
      .join("\n    ")}
    ${range(R)
      .map(
        (q) => `${blockInside(inp, `h0 + ${q} >= 0 && h0 + ${q} < ${H}`)}
      ${inp.row("row", "n", "it", `h0 + ${q}`)}
      ${range(P)
        .map((p) => `let x${p} = ${inp.rawInside("row", `w0 + ${p}`, "i32(c)")};`)
        .join("\n      ")}
      ${rowTerms(q).join("\n      ")}
    }`,
      )
      .join("\n    ")}
  }
  ${range(th)
    .flatMap((i) =>
      range(tw).map(
        (j) => `if (ho0 + ${i}u < ${Ho}u && wo0 + ${j}u < ${Wo}u) {
    let o = (((n * ${To}u + to) * ${Ho}u + ho0 + ${i}u) * ${Wo}u + wo0 + ${j}u) * ${C}u + c;
    var v = acc${i}_${j}; ${applyEpilogue(s.epilogue, "v", wts.load(`${taps}`, "i32(c)"), io.res("o"), zero)}
    ${io.store("o", "v")}
  }`,
      ),
    )
    .join("\n  ")}
}
`;
  const choice = { family: "conv-depthwise", storage: storageOf(textures), tile } as const;
  return convKernel(s, choice, "depthwise", { name, wgsl, grid: g, textures });
}
