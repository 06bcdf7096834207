// Depthwise kT x kH x kW convolution (groups = channels), any kernel and stride. Each invocation
// computes a TH x TW tile of output positions (along H and W) for 4 channels (vec4 along
// channels-last C). The tile's windows overlap, so each input vec4 of a kernel-depth slice is
// loaded once and feeds every output whose window holds it, and each weight vec4 once per tile.
// Weights: [kT*kH*kW][C], then bias [C].
import { applyEpilogue, entry, grid, type Kernel, type KernelLimits } from "./common.js";
import { convDeclarations, convKernel, type ConvSpec } from "./conv-spec.js";
import { texel, textureRow } from "./texture.js";

export interface DepthwiseTile {
  readonly th: number;
  readonly tw: number;
}

/**
 * `textures`: read the input and weights as textures (see texture.ts): the input staged with a
 * zero border of the conv's padding, so taps need no bounds checks; weight texel (c, tap),
 * bias (c, taps).
 */
export function convDepthwise(
  s: ConvSpec,
  limits: KernelLimits,
  tile: DepthwiseTile = { th: 1, tw: s.output[2] >= 4 ? 2 : 1 },
  textures?: Kernel["textures"],
): Kernel {
  const vec = s.cin % 4 === 0;
  const tex = textures !== undefined && vec;
  const C = vec ? s.cin / 4 : s.cin;
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const [sT, sH, sW] = s.stride;
  const [pT, pH, pW] = s.pad;
  const tw = Math.min(tile.tw, Wo);
  const th = Math.min(tile.th, Ho);
  const WT = Math.ceil(Wo / tw);
  const HT = Math.ceil(Ho / th);
  const total = s.n * To * HT * WT * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  const range = (k: number) => [...Array(k).keys()];
  const taps = KT * KH * KW;
  // Input rows and columns one kernel-depth slice of the tile needs.
  const R = (th - 1) * sH + KH;
  const P = (tw - 1) * sW + KW;
  const padded = tex && textures.input!.pad.every((p, i) => p === s.pad[i]);
  if (tex && !padded) throw new Error("csnc bug: a depthwise texture without the conv's border");
  const load = tex
    ? (q: number, p: number) => texel("inp", `(w0 + ${pW + p}) * ${C} + i32(c)`, `rowBase + ${q}`)
    : (q: number, p: number) =>
        `select(${zero}, inp[(rowBase + ${q * W}u + u32(clamp(w0 + ${p}, 0, ${W - 1}))) * ${C}u + c], w0 + ${p} >= 0 && w0 + ${p} < ${W})`;
  const weight = tex
    ? (kh: number, kw: number) => texel("wts", "i32(c)", `tap + ${kh * KW + kw}`)
    : (kh: number, kw: number) => `wts[tap + ${(kh * KW + kw) * C}u]`;
  // The row q of the slice feeds output row i through kernel row q - i * sH.
  const rowTerms = (q: number) =>
    range(th).flatMap((i) => {
      const kh = q - i * sH;
      if (kh < 0 || kh >= KH) return [];
      return range(tw).map(
        (j) =>
          `acc${i}_${j} += ${range(KW)
            .map((kw) => `x${j * sW + kw} * wv${kh}_${kw}`)
            .join(" + ")};`,
      );
    });
  const name = `conv-depthwise${tex ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}-${th > 1 ? `th${th}-` : ""}tw${tw}`;
  const wgsl = `// ${name}: depthwise conv, C=${s.cin}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts (channels-last): inp [N][T][H][W][C], wts [tap][C] then bias [C], out [N][To][Ho][Wo][C]${vec ? ", vec4 along C" : ""}${tex ? "; inp and wts as textures" : ""}.
// Invocation idx -> channel group idx % ${C}, then a ${th}x${tw} tile of outputs along H and W, then To, N.
${convDeclarations(s, t, t, tex ? textures : {})}
${entry(g.nx, total)}
  let c = idx % ${C}u; var r = idx / ${C}u;
  let wo0 = (r % ${WT}u) * ${tw}u; r = r / ${WT}u;
  let ho0 = (r % ${HT}u) * ${th}u; r = r / ${HT}u;
  let to = r % ${To}u; let n = r / ${To}u;
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho0 * ${sH}u) - ${pH};
  let w0 = i32(wo0 * ${sW}u) - ${pW};
  ${range(th)
    .flatMap((i) => range(tw).map((j) => `var acc${i}_${j} = ${zero};`))
    .join(" ")}
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = t0 + kt;
    ${tex ? "" : `if (it < 0 || it >= ${T}) { continue; }`}
    let tap = ${tex ? `kt * ${KH * KW}` : `u32(kt * ${KH * KW}) * ${C}u + c`};
    ${range(KH)
      .map((kh) =>
        range(KW)
          .map((kw) => `let wv${kh}_${kw} = ${weight(kh, kw)};`)
          .join(" "),
      )
      .join("\n    ")}
    let rowBase = ${tex ? textureRow(textures.input!, T, H, "n", "it", "h0") : `((n * ${T}u + u32(it)) * ${H}u + u32(h0)) * ${W}u`};
    ${range(R)
      .map(
        (q) => `${tex ? "{" : `if (h0 + ${q} >= 0 && h0 + ${q} < ${H}) {`}
      ${range(P)
        .map((p) => `let x${p} = ${load(q, p)};`)
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
    var v = acc${i}_${j}; ${applyEpilogue(s.epilogue, "v", tex ? texel("wts", "i32(c)", `${taps}`) : `wts[${taps * C}u + c]`, "res[o]", zero)}
    out[o] = v;
  }`,
      ),
    )
    .join("\n  ")}
}
`;
  return convKernel(s, name, wgsl, g.dispatch, tex ? textures : undefined);
}
