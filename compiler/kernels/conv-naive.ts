// The naive baseline, for benchmarks only: one invocation per output element looping over the
// whole receptive field, the design of ONNX Runtime Web's and TensorFlow.js's WebGPU Conv3D.
// It reads the same weight layouts as csnc's kernels ([tap][Cin/G][Cout], which the pointwise
// and depthwise layouts are special cases of) and applies the same fused epilogue.
import { applyEpilogue, entry, grid, unflatten, type Kernel, type KernelLimits } from "./common.js";
import { convDeclarations, convKernel, type ConvSpec } from "./conv-spec.js";
import { bufferInput, bufferWeights } from "./operand.js";

export function convNaive(s: ConvSpec, limits: KernelLimits): Kernel {
  const [T, H, W] = s.input;
  const [To, Ho, Wo] = s.output;
  const [KT, KH, KW] = s.kernel;
  const cinG = s.cin / s.groups;
  const coutG = s.cout / s.groups;
  const total = s.n * To * Ho * Wo * s.cout;
  const g = grid(total, limits);
  const name = `conv-naive-k${s.kernel.join("x")}`;
  const wgsl = `// ${name}: one invocation per output element (baseline for benchmarks).
${convDeclarations(s, bufferInput([s.n, s.cin, ...s.input], 1), bufferWeights("f32", s.cout), "f32")}
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
          v += inp[(((n * ${T}u + u32(it)) * ${H}u + u32(ih)) * ${W}u + u32(iw)) * ${s.cin}u + ciBase + ci] * wts[(tap * ${cinG}u + ci) * ${s.cout}u + co];
        }
      }
    }
  }
  let o = idx;
  ${applyEpilogue(s.epilogue, "v", `wts[${KT * KH * KW * cinG * s.cout}u + co]`, "res[o]", "0.0")}
  out[o] = v;
}
`;
  return convKernel(s, { family: "conv-naive" }, "direct", {
    name,
    wgsl,
    grid: g,
    textures: undefined,
  });
}
