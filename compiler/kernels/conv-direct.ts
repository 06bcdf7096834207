// General (dense or grouped) convolution: the 3x7x7 stem, ResNet3D's 3x3x3, grouped variants.
// A tiled direct scheme: each invocation computes TW neighbouring outputs along W for COT groups
// of 4 output channels (vec4), so each input value loaded feeds COT vec4 multiply-adds and each
// weight vec4 serves TW outputs. One body for every input: a channels-last or channels-first
// buffer (one channel a load), a staged texture (4 a texel) or the clip texture (all of its
// channels in one texel). Weights: [kT*kH*kW][Cin/G][Cout] (vec4 along Cout), then bias.
import { applyEpilogue, entry, grid, unflatten, type Kernel, type KernelLimits } from "./common.js";
import type { DirectTile } from "./choice.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import { convKernel, convOperands, storageOf, unsupported } from "./conv-spec.js";
import { skipOutside } from "./operand.js";

export type { DirectTile };

/** Whether the outputs go in vec4 groups: each conv group's output channels in fours. */
export const directVectorises = (s: ConvSpec) => (s.cout / s.groups) % 4 === 0;

/** Output-channel groups per invocation: as many as fit in one conv group, up to `max`. */
export function directChannelTile(s: ConvSpec, max = 4): number {
  const coutG = s.cout / s.groups;
  if (coutG % 4 !== 0) return 1;
  let cot = Math.min(max, coutG / 4);
  while ((coutG / 4) % cot !== 0) cot--;
  return cot;
}

/** Whether `convDirect` can read textures: vec4 output groups and vec4 (or clip) input texels. */
export function directTexturable(s: ConvSpec): boolean {
  const cinG = s.cin / s.groups;
  const clip = s.channelsFirstInput === true;
  return (
    directVectorises(s) && (clip ? s.cin <= 4 && s.groups === 1 : cinG % 4 === 0 && s.cin % 4 === 0)
  );
}

/**
 * `textures`: the input and weights as textures (see texture.ts), the input with a zero border
 * of the conv's padding so taps need no bounds checks. Weight unit (tap * Cin/G + ci, co/4).
 */
export function convDirect(
  s: ConvSpec,
  limits: KernelLimits,
  tile: DirectTile,
  textures?: ConvTextures,
): Kernel {
  const clip = s.channelsFirstInput === true;
  const vec = directVectorises(s);
  const { tw, cot: COT } = tile;
  const name = textures
    ? `conv-direct-tex${clip ? "-clip" : ""}-vec4-k${s.kernel.join("x")}-s${s.stride.join("x")}-g${s.groups}-tw${tw}-co${COT}`
    : `conv-direct${clip ? "-ncthw" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}-g${s.groups}-tw${tw}-co${COT}`;
  if (textures && !directTexturable(s)) unsupported(name, "its channels do not fill texels");
  if (COT !== directChannelTile(s, COT)) unsupported(name, `${COT} channel groups per invocation`);
  const coutG = s.cout / s.groups;
  const cinG = s.cin / s.groups;
  const CO = vec ? s.cout / 4 : s.cout;
  const CT = CO / COT;
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const [sT, sH, sW] = s.stride;
  const [pT, pH, pW] = s.pad;
  const WT = Math.ceil(Wo / tw);
  const total = s.n * To * Ho * WT * CT;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = `${t}(0.0)`;
  const { inp, wts, io, declarations, num } = convOperands(s, 1, t, CO, textures);
  if (textures && !inp.bordered) unsupported(name, "a texture without the conv's border");
  const lanes = inp.lanes;
  const js = [...Array(tw).keys()];
  const cs = [...Array(COT).keys()];
  const qs = [...Array(lanes).keys()];
  const comp = ["x", "y", "z", "w"];
  // A scalar load is the channel itself; a texel (even of a one-channel clip) holds it in .x.
  const term = (c: number) =>
    num.widen(
      inp.type === "f32" ? `x * w${c}_0` : qs.map((q) => `x.${comp[q]} * w${c}_${q}`).join(" + "),
      vec ? 4 : 1,
    );
  const wgsl = `// ${name}: conv ${s.cin}->${s.cout}, groups ${s.groups}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts: inp ${inp.storage === "texture" ? `texture, ${lanes} channel(s) a texel` : clip ? "[N][Cin][T][H][W] (the model input as given)" : "[N][T][H][W][Cin] (channels-last)"}, wts [tap][Cin/G][Cout]${vec ? " (vec4 along Cout)" : ""} then bias,
// res/out [N][To][Ho][Wo][Cout]. Invocation idx -> ${COT} output channel group(s) (idx % ${CT}), then ${tw} outputs along W, Ho, To, N.
${declarations}
${entry(g.nx, total)}
  ${unflatten("idx", [
    ["ct", CT],
    ["wt", WT],
    ["ho", Ho],
    ["to", To],
    ["n", s.n],
  ])}
  let co0 = i32(ct * ${COT}u); let wo0 = wt * ${tw}u;
  // The first input unit of the conv group.
  let ci0 = (co0 * ${vec ? 4 : 1} / ${coutG}) * ${cinG / lanes};
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho * ${sH}u) - ${pH};
  ${js.flatMap((j) => cs.map((c) => `var acc${j}_${c} = ${zero};`)).join(" ")}
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = t0 + kt;
    ${skipOutside(inp, `it >= 0 && it < ${T}`)}
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = h0 + kh;
      ${skipOutside(inp, `ih >= 0 && ih < ${H}`)}
      ${inp.row("row", "n", "it", "ih")}
      for (var kw = 0; kw < ${KW}; kw++) {
        ${js.map((j) => `let iw${j} = i32((wo0 + ${j}u) * ${sW}u) - ${pW} + kw;`).join(" ")}
        let wrow = ((kt * ${KH} + kh) * ${KW} + kw) * ${cinG};
        for (var ci = 0; ci < ${cinG / lanes}; ci++) {
          ${cs.map((c) => qs.map((q) => `let w${c}_${q} = ${wts.raw(`wrow + ci * ${lanes} + ${q}`, `co0 + ${c}`)};`).join(" ")).join("\n          ")}
          ${js
            .map(
              (j) =>
                `{ let x = ${inp.rawInside("row", `iw${j}`, "ci0 + ci")}; ${cs.map((c) => `acc${j}_${c} += ${term(c)};`).join(" ")} }`,
            )
            .join("\n          ")}
        }
      }
    }
  }
  ${js
    .map(
      (j) => `if (wo0 + ${j}u < ${Wo}u) {
    let ob = (((n * ${To}u + to) * ${Ho}u + ho) * ${Wo}u + wo0 + ${j}u) * ${CO}u + u32(co0);
    ${cs.map((c) => `{ let o = ob + ${c}u; var v = acc${j}_${c}; ${applyEpilogue(s.epilogue, "v", wts.load(`${KT * KH * KW * cinG}`, `co0 + ${c}`), io.res("o"), zero)} ${io.store("o", "v")} }`).join("\n    ")}
  }`,
    )
    .join("\n  ")}
}
`;
  const choice = { family: "conv-direct", storage: storageOf(textures), tile } as const;
  return convKernel(s, choice, "direct", { name, wgsl, grid: g, textures });
}
