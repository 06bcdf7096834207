// Depthwise kT x kH x kW convolution (groups = channels), any kernel and stride. Each invocation
// computes one output position for 4 channels (vec4 along channels-last C) and TW neighbouring
// outputs along W, so each weight vec4 is loaded once per TW outputs. Taps are read directly;
// row bases are computed once per (kt, kh) and stepped along kw. Weights: [kT*kH*kW][C], then bias [C].
import { applyEpilogue, entry, grid, type Kernel, type KernelLimits } from "./common.js";
import { convDeclarations, convKernel, type ConvSpec } from "./conv-spec.js";
import { texel } from "./texture.js";

/**
 * `textures`: read the input and weights as textures (see texture.ts): input texel
 * (iw * C/4 + c, (n * T + it) * H + ih), weight texel (c, tap), bias (c, taps).
 */
export function convDepthwise(
  s: ConvSpec,
  limits: KernelLimits,
  tw = s.output[2] >= 4 ? 2 : 1,
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
  const WT = Math.ceil(Wo / tw);
  const total = s.n * To * Ho * WT * C;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  const js = [...Array(tw).keys()];
  const taps = KT * KH * KW;
  const load = tex
    ? (j: number) => texel("inp", `clamp(w${j} + kw, 0, ${W - 1}) * ${C} + i32(c)`, "row")
    : (j: number) => `inp[(rowBase + u32(clamp(w${j} + kw, 0, ${W - 1}))) * ${C}u + c]`;
  const name = `conv-depthwise${tex ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}-tw${tw}`;
  const wgsl = `// ${name}: depthwise conv, C=${s.cin}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts (channels-last): inp [N][T][H][W][C], wts [tap][C] then bias [C], out [N][To][Ho][Wo][C]${vec ? ", vec4 along C" : ""}${tex ? "; inp and wts as textures" : ""}.
// Invocation idx -> channel group idx % ${C}, then ${tw} outputs along W, then Ho, To, N.
${convDeclarations(s, t, t, tex ? textures : {})}
${entry(g.nx, total)}
  let c = idx % ${C}u; var r = idx / ${C}u;
  let wo0 = (r % ${WT}u) * ${tw}u; r = r / ${WT}u;
  let ho = r % ${Ho}u; r = r / ${Ho}u;
  let to = r % ${To}u; let n = r / ${To}u;
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho * ${sH}u) - ${pH};
  ${js.map((j) => `let w${j} = i32((wo0 + ${j}u) * ${sW}u) - ${pW};`).join(" ")}
  ${js.map((j) => `var acc${j} = ${zero};`).join(" ")}
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = t0 + kt;
    if (it < 0 || it >= ${T}) { continue; }
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = h0 + kh;
      if (ih < 0 || ih >= ${H}) { continue; }
      ${tex ? `let row = i32(n * ${T * H}u) + it * ${H} + ih;` : `let rowBase = ((n * ${T}u + u32(it)) * ${H}u + u32(ih)) * ${W}u;`}
      ${tex ? `var tap = (kt * ${KH} + kh) * ${KW};` : `var tap = u32((kt * ${KH} + kh) * ${KW}) * ${C}u + c;`}
      for (var kw = 0; kw < ${KW}; kw++) {
        let wv = ${tex ? texel("wts", "i32(c)", "tap") : "wts[tap]"};
        ${js
          .map(
            (j) => `{ let iw = w${j} + kw; let ok = iw >= 0 && iw < ${W};
          acc${j} += select(${zero}, ${load(j)}, ok) * wv; }`,
          )
          .join("\n        ")}
        tap += ${tex ? "1" : `${C}u`};
      }
    }
  }
  ${js
    .map(
      (j) => `if (wo0 + ${j}u < ${Wo}u) {
    let o = (((n * ${To}u + to) * ${Ho}u + ho) * ${Wo}u + wo0 + ${j}u) * ${C}u + c;
    var v = acc${j}; ${applyEpilogue(s.epilogue, "v", tex ? texel("wts", "i32(c)", `${taps}`) : `wts[${taps * C}u + c]`, "res[o]", zero)}
    out[o] = v;
  }`,
    )
    .join("\n  ")}
}
`;
  return convKernel(s, name, wgsl, g.dispatch, tex ? textures : undefined);
}
