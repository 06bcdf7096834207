// The naive baseline, for benchmarks only: one invocation per output element looping over the
// whole receptive field, the design of ONNX Runtime Web's and TensorFlow.js's WebGPU Conv3D.
// It reads the same weight layouts as csnc's kernels ([tap][Cin/G][Cout], which the pointwise
// and depthwise layouts are special cases of) and applies the same fused epilogue.
import { applyEpilogue, entry, grid, unflatten, type Kernel, type KernelLimits } from "./common.js";
import { convKernel, convOperands, type ConvSpec } from "./conv-spec.js";

export function convNaive(s: ConvSpec, limits: KernelLimits): Kernel {
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const cinG = s.cin / s.groups;
  const coutG = s.cout / s.groups;
  const total = s.n * To * Ho * Wo * s.cout;
  const g = grid(total, limits);
  const name = `conv-naive-k${s.kernel.join("x")}`;
  const { inp, wts, io, declarations, num } = convOperands(
    { ...s, channelsFirstInput: false },
    1,
    "f32",
    s.cout,
    undefined,
  );
  const wgsl = `// ${name}: one invocation per output element (baseline for benchmarks).
${declarations}
${entry(g.nx, total)}
  ${unflatten("idx", [
    ["co", s.cout],
    ["wo", Wo],
    ["ho", Ho],
    ["to", To],
    ["n", s.n],
  ])}
  let ciBase = (co / ${coutG}u) * ${cinG}u;
  var v = 0.0;
  for (var kt = 0; kt < ${KT}; kt++) {
    for (var kh = 0; kh < ${KH}; kh++) {
      for (var kw = 0; kw < ${KW}; kw++) {
        let it = i32(to * ${s.stride[0]}u) - ${s.pad[0]} + kt;
        let ih = i32(ho * ${s.stride[1]}u) - ${s.pad[1]} + kh;
        let iw = i32(wo * ${s.stride[2]}u) - ${s.pad[2]} + kw;
        if (it < 0 || it >= ${T} || ih < 0 || ih >= ${H} || iw < 0 || iw >= ${W}) { continue; }
        let tap = u32((kt * ${KH} + kh) * ${KW} + kw);
        for (var ci = 0u; ci < ${cinG}u; ci++) {
          let row = i32(((n * ${T}u + u32(it)) * ${H}u + u32(ih)) * ${W}u * ${s.cin}u);
          v += ${num.widen(`${inp.raw("row", "iw", "i32(ciBase + ci)")} * ${wts.raw(`i32(tap * ${cinG}u + ci)`, "i32(co)")}`, 1)};
        }
      }
    }
  }
  let o = idx;
  ${applyEpilogue(s.epilogue, "v", wts.load(`${KT * KH * KW * cinG}`, "i32(co)"), io.res("o"), "0.0")}
  ${io.store("o", "v")}
}
`;
  return convKernel(s, { family: "conv-naive" }, "direct", {
    name,
    wgsl,
    grid: g,
    textures: undefined,
  });
}
