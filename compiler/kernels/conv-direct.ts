// General (dense or grouped) convolution: the 3x7x7 stem, ResNet3D's 3x3x3, grouped variants.
// A tiled direct scheme: each invocation computes TW neighbouring outputs along W for COT groups
// of 4 output channels (vec4), so each input value loaded feeds COT vec4 multiply-adds and each
// weight vec4 serves TW outputs. Weights: [kT*kH*kW][Cin/G][Cout] (vec4 along Cout), then bias.
import { applyEpilogue, entry, grid, type Kernel, type KernelLimits } from "./common.js";
import { convDeclarations, convKernel, type ConvSpec } from "./conv-spec.js";
import { texel, textureRow } from "./texture.js";

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
    (s.cout / s.groups) % 4 === 0 &&
    (clip ? s.cin <= 4 && s.groups === 1 : cinG % 4 === 0 && s.cin % 4 === 0)
  );
}

/**
 * `textures`: read the input and weights as textures (see texture.ts), the input with a zero
 * border of the conv's padding so taps need no bounds checks. A channels-last input texel holds
 * 4 input channels; the clip's texel all of its channels. Weight texel (co/4, tap * Cin/G + ci).
 */
export function convDirect(
  s: ConvSpec,
  limits: KernelLimits,
  tw = Math.min(4, s.output[2]),
  cot = directChannelTile(s),
  textures?: Kernel["textures"],
): Kernel {
  const coutG = s.cout / s.groups;
  const cinG = s.cin / s.groups;
  const tex = textures !== undefined && directTexturable(s);
  const vec = coutG % 4 === 0;
  const CO = vec ? s.cout / 4 : s.cout;
  const COT = vec ? cot : 1;
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
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  const js = [...Array(tw).keys()];
  const cs = [...Array(COT).keys()];
  if (tex) return directTextured(s, limits, tw, COT, textures);
  const name = `conv-direct${s.channelsFirstInput ? "-ncthw" : ""}-${vec ? "vec4" : "scalar"}-k${s.kernel.join("x")}-s${s.stride.join("x")}-g${s.groups}-tw${tw}-co${COT}`;
  const wgsl = `// ${name}: conv ${s.cin}->${s.cout}, groups ${s.groups}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts: inp ${s.channelsFirstInput ? "[N][Cin][T][H][W] (the model input as given)" : "[N][T][H][W][Cin] (channels-last)"} (scalars), wts [tap][Cin/G][Cout]${vec ? " (vec4 along Cout)" : ""} then bias,
// res/out [N][To][Ho][Wo][Cout]. Invocation idx -> ${COT} output channel group(s) (idx % ${CT}), then ${tw} outputs along W, Ho, To, N.
${convDeclarations(s, "f32", t)}
${entry(g.nx, total)}
  let co0 = (idx % ${CT}u) * ${COT}u; var r = idx / ${CT}u;
  let wo0 = (r % ${WT}u) * ${tw}u; r = r / ${WT}u;
  let ho = r % ${Ho}u; r = r / ${Ho}u;
  let to = r % ${To}u; let n = r / ${To}u;
  let ciBase = (co0 * ${vec ? 4 : 1}u / ${coutG}u) * ${cinG}u;
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho * ${sH}u) - ${pH};
  ${js.flatMap((j) => cs.map((c) => `var acc${j}_${c} = ${zero};`)).join(" ")}
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = t0 + kt;
    if (it < 0 || it >= ${T}) { continue; }
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = h0 + kh;
      if (ih < 0 || ih >= ${H}) { continue; }
      let rowBase = ${s.channelsFirstInput ? `(((n * ${s.cin}u + ciBase) * ${T}u + u32(it)) * ${H}u + u32(ih)) * ${W}u` : `((n * ${T}u + u32(it)) * ${H}u + u32(ih)) * ${W}u`};
      for (var kw = 0; kw < ${KW}; kw++) {
        ${js
          .map(
            (
              j,
            ) => `let iw${j} = i32((wo0 + ${j}u) * ${sW}u) - ${pW} + kw; let ok${j} = iw${j} >= 0 && iw${j} < ${W};
        let base${j} = ${s.channelsFirstInput ? `rowBase + u32(clamp(iw${j}, 0, ${W - 1}))` : `(rowBase + u32(clamp(iw${j}, 0, ${W - 1}))) * ${s.cin}u + ciBase`};`,
          )
          .join("\n        ")}
        var wi = (u32((kt * ${KH} + kh) * ${KW} + kw) * ${cinG}u) * ${CO}u + co0;
        for (var ci = 0u; ci < ${cinG}u; ci++) {
          ${cs.map((c) => `let wv${c} = wts[wi + ${c}u];`).join(" ")}
          ${js.map((j) => `{ let x = select(0.0, inp[base${j} + ci${s.channelsFirstInput ? ` * ${T * H * W}u` : ""}], ok${j}); ${cs.map((c) => `acc${j}_${c} += x * wv${c};`).join(" ")} }`).join("\n          ")}
          wi += ${CO}u;
        }
      }
    }
  }
  ${js
    .map(
      (j) => `if (wo0 + ${j}u < ${Wo}u) {
    let ob = (((n * ${To}u + to) * ${Ho}u + ho) * ${Wo}u + wo0 + ${j}u) * ${CO}u + co0;
    ${cs.map((c) => `{ let o = ob + ${c}u; var v = acc${j}_${c}; ${applyEpilogue(s.epilogue, "v", `wts[${KT * KH * KW * cinG * CO}u + co0 + ${c}u]`, "res[o]", zero)} out[o] = v; }`).join("\n    ")}
  }`,
    )
    .join("\n  ")}
}
`;
  return convKernel(s, name, wgsl, g.dispatch);
}

/** The texture variant of `convDirect`: each input texel feeds 4 (or the clip's C) channels. */
function directTextured(
  s: ConvSpec,
  limits: KernelLimits,
  tw: number,
  COT: number,
  textures: Kernel["textures"],
): Kernel {
  const clip = s.channelsFirstInput === true;
  const coutG = s.cout / s.groups;
  const cinG = s.cin / s.groups;
  const CO = s.cout / 4;
  const CT = CO / COT;
  const CI = clip ? 1 : s.cin / 4; // texels per input position
  const lanes = clip ? s.cin : 4; // channels per texel
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const [sT, sH, sW] = s.stride;
  const [pT, pH] = s.pad;
  if (!textures!.input!.pad.every((p, i) => p === s.pad[i]))
    throw new Error("csnc bug: a direct conv texture without the conv's border");
  const WT = Math.ceil(Wo / tw);
  const total = s.n * To * Ho * WT * CT;
  const g = grid(total, limits);
  const zero = "vec4<f32>(0.0)";
  const js = [...Array(tw).keys()];
  const cs = [...Array(COT).keys()];
  const qs = [...Array(lanes).keys()];
  const comp = ["x", "y", "z", "w"];
  const name = `conv-direct-tex${clip ? "-clip" : ""}-vec4-k${s.kernel.join("x")}-s${s.stride.join("x")}-g${s.groups}-tw${tw}-co${COT}`;
  const wgsl = `// ${name}: conv ${s.cin}->${s.cout}, groups ${s.groups}, input ${T}x${H}x${W}, output ${To}x${Ho}x${Wo}, pad ${s.pad.join("x")}.
// Layouts: inp texture ${clip ? "(iw + pW, row): the clip's channels" : "((iw + pW) * Cin/4 + ci/4, row): 4 channels"}, row = (n * (T + 2pT) + it + pT) * (H + 2pH) + ih + pH; wts texture (co/4, tap * Cin/G + ci),
// bias at row taps * Cin/G; res/out [N][To][Ho][Wo][Cout] (vec4 along Cout). Invocation idx -> ${COT} output channel group(s), then ${tw} outputs along W, Ho, To, N.
${convDeclarations(s, "f32", "vec4<f32>", textures)}
${entry(g.nx, total)}
  let co0 = (idx % ${CT}u) * ${COT}u; var r = idx / ${CT}u;
  let wo0 = (r % ${WT}u) * ${tw}u; r = r / ${WT}u;
  let ho = r % ${Ho}u; r = r / ${Ho}u;
  let to = r % ${To}u; let n = r / ${To}u;
  let ci0 = i32((co0 * 4u / ${coutG}u) * ${cinG / lanes}u); // first input texel of the group
  let t0 = i32(to * ${sT}u) - ${pT}; let h0 = i32(ho * ${sH}u) - ${pH};
  ${js.flatMap((j) => cs.map((c) => `var acc${j}_${c} = ${zero};`)).join(" ")}
  for (var kt = 0; kt < ${KT}; kt++) {
    let it = t0 + kt;
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = h0 + kh;
      let row = ${textureRow(textures!.input!, T, H, "n", "it", "ih")};
      for (var kw = 0; kw < ${KW}; kw++) {
        ${js
          .map((j) => `let x${j}base = (i32((wo0 + ${j}u) * ${sW}u) + kw) * ${CI} + ci0;`)
          .join("\n        ")}
        var wrow = ((kt * ${KH} + kh) * ${KW} + kw) * ${cinG};
        for (var ci = 0; ci < ${cinG / lanes}; ci++) {
          ${cs.map((c) => qs.map((q) => `let w${c}_${q} = ${texel("wts", `i32(co0) + ${c}`, `wrow + ${q}`)};`).join(" ")).join("\n          ")}
          ${js
            .map(
              (j) =>
                `{ let x = ${texel("inp", `x${j}base + ci`, "row")}; ${cs.map((c) => `acc${j}_${c} += ${qs.map((q) => `x.${comp[q]} * w${c}_${q}`).join(" + ")};`).join(" ")} }`,
            )
            .join("\n          ")}
          wrow += ${lanes};
        }
      }
    }
  }
  ${js
    .map(
      (j) => `if (wo0 + ${j}u < ${Wo}u) {
    let ob = (((n * ${To}u + to) * ${Ho}u + ho) * ${Wo}u + wo0 + ${j}u) * ${CO}u + co0;
    ${cs.map((c) => `{ let o = ob + ${c}u; var v = acc${j}_${c}; ${applyEpilogue(s.epilogue, "v", texel("wts", `i32(co0) + ${c}`, `${KT * KH * KW * cinG}`), "res[o]", zero)} out[o] = v; }`).join("\n    ")}
  }`,
    )
    .join("\n  ")}
}
`;
  return convKernel(s, name, wgsl, g.dispatch, textures);
}
