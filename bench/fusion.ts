// `npm run bench:fusion`: would fusing a depthwise conv into the 1x1x1 conv after it pay on
// llvmpipe? The fused kernel (written here only, for this measurement) computes the depthwise
// outputs of P positions into workgroup memory, waits at one barrier, then runs the GEMM for
// those positions over every output channel; it saves a dispatch (0.03-0.08 ms on llvmpipe,
// `npm run bench:kernels`) and the staging copy. It is timed against the compiler's own two
// kernels (llvmpipe's tuning) for the res3/res4/res5 blocks of ir-CSN-50 at 1x3x8x112x112,
// both with a bias + ReLU epilogue (the model's conv_c also adds the residual, alike for both).
// Prints ms per variant. It measures speed only: the fused kernel's output is not checked, as no
// plan uses it.
import { parseArgs } from "node:util";
import { defaultConvKernel } from "../compiler/kernels/select.js";
import type { ConvSpec } from "../compiler/kernels/conv-spec.js";
import { texel } from "../compiler/kernels/operand.js";
import { planeRowExpr, textureLayout } from "../compiler/kernels/texture.js";
import { table } from "../cli/format.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { tuningFor } from "../compiler/kernels/tuning.js";
import { describeAdapter, requestDevice } from "../runtime/device.js";
import {
  benchLimits,
  convKernelToTime,
  convTextures,
  timeKernel,
  type TimedKernel,
} from "./common.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "opengles" },
    runs: { type: "string", default: "5" },
  },
});
const limits = benchLimits;
const epilogue = { bias: true, relu: true, residual: false, reluAfterAdd: false };
const range = (k: number) => [...Array(k).keys()];

/** A bottleneck's depthwise 3x3x3 conv (C channels) and the 1x1x1 conv to 4C after it. */
function block(c: number, plane: [number, number, number]) {
  const common = { n: 1, input: plane, output: plane, stride: [1, 1, 1] as const, epilogue };
  const dw: ConvSpec = { ...common, cin: c, cout: c, kernel: [3, 3, 3], pad: [1, 1, 1], groups: c };
  const pw: ConvSpec = {
    ...common,
    cin: c,
    cout: 4 * c,
    kernel: [1, 1, 1],
    pad: [0, 0, 0],
    groups: 1,
  };
  return { dw, pw };
}

/** The fused kernel: P positions a workgroup of WG invocations, TN vec4 columns each. */
function fused(dw: ConvSpec, pw: ConvSpec, P: number, TN: number, WG: number): TimedKernel {
  const K = dw.cin / 4;
  const N = pw.cout / 4;
  const [T, H, W] = dw.input;
  const M = dw.n * T * H * W;
  const input = convTextures(dw).input!;
  const taps = range(3).flatMap((kh) => range(3).map((kw) => [kh, kw] as const));
  const wgsl = `
@group(0) @binding(0) var inp: texture_2d<f32>;
@group(0) @binding(1) var dww: texture_2d<f32>;
@group(0) @binding(2) var pww: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
var<workgroup> a: array<vec4<f32>, ${P * K}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.x * ${P}u;
  for (var e = lid; e < ${P * K}u; e += ${WG}u) {
    let c = i32(e % ${K}u);
    var r = min(m0 + e / ${K}u, ${M - 1}u);
    let wo = i32(r % ${W}u); r = r / ${W}u;
    let ho = i32(r % ${H}u); r = r / ${H}u;
    let to = i32(r % ${T}u); let n = r / ${T}u;
    var acc = vec4<f32>(0.0);
    for (var kt = 0; kt < 3; kt++) {
      let row = ${planeRowExpr(textureLayout([dw.n, dw.cin, T, H, W], input), "i32(n)", "to - 1 + kt", "ho - 1")};
      ${taps.map(([kh, kw]) => `acc += ${texel("inp", `(wo + ${kw}) * ${K} + c`, `row + ${kh}`)} * ${texel("dww", "c", `kt * 9 + ${kh * 3 + kw}`)};`).join("\n      ")}
    }
    a[e] = max(acc + ${texel("dww", "c", "27")}, vec4<f32>(0.0));
  }
  workgroupBarrier();
  for (var chunk = 0u; chunk < ${Math.ceil(N / (WG * TN))}u; chunk++) {
    let n0 = i32((chunk * ${WG}u + lid) * ${TN}u);
    if (n0 >= ${N}) { break; }
    ${range(P)
      .flatMap((p) => range(TN).map((j) => `var acc${p}_${j} = vec4<f32>(0.0);`))
      .join(" ")}
    for (var k = 0; k < ${K}; k++) {
      ${range(TN)
        .map((j) =>
          range(4)
            .map((q) => `let b${j}_${q} = ${texel("pww", `n0 + ${j}`, `k * 4 + ${q}`)};`)
            .join(" "),
        )
        .join("\n      ")}
      ${range(P)
        .map(
          (p) =>
            `{ let x = a[${p * K} + k]; ${range(TN)
              .map(
                (j) =>
                  `acc${p}_${j} += x.x * b${j}_0 + x.y * b${j}_1 + x.z * b${j}_2 + x.w * b${j}_3;`,
              )
              .join(" ")} }`,
        )
        .join("\n      ")}
    }
    ${range(P)
      .map(
        (p) =>
          `if (m0 + ${p}u < ${M}u) { ${range(TN)
            .map(
              (j) =>
                `out[(m0 + ${p}u) * ${N}u + u32(n0) + ${j}u] = max(acc${p}_${j} + ${texel("pww", `n0 + ${j}`, `${pw.cin}`)}, vec4<f32>(0.0));`,
            )
            .join(" ")} }`,
      )
      .join("\n    ")}
  }
}`;
  return {
    wgsl,
    dispatch: [Math.ceil(M / P), 1, 1],
    resources: [input, convTextures(dw).weights!, convTextures(pw).weights!, M * pw.cout],
  };
}

const acquired = await acquireAdapter(args.backend as Backend);
const device = await requestDevice(acquired.adapter);
const tuning = tuningFor(acquired.adapter.info);

/** Median ms of one dispatch, 16 to a submit (as profiles time short kernels). */
const time = async (k: TimedKernel) => (await timeKernel(device, k, Number(args.runs), 16)).ms;

const rows: string[][] = [];
for (const [what, c, plane] of [
  ["res3 block, 128 -> 512, 4x14x14", 128, [4, 14, 14]],
  ["res4 block, 256 -> 1024, 2x7x7", 256, [2, 7, 7]],
  ["res5 block, 512 -> 2048, 1x4x4", 512, [1, 4, 4]],
] as const) {
  const { dw, pw } = block(c, [...plane]);
  const dwKernel = defaultConvKernel(dw, limits, tuning, convTextures(dw));
  const pwKernel = defaultConvKernel(pw, limits, tuning, convTextures(pw));
  const dwMs = await time(convKernelToTime(dw, dwKernel));
  const pwMs = await time(convKernelToTime(pw, pwKernel));
  rows.push([what, `${dwKernel.name} + ${pwKernel.name}`, (dwMs + pwMs).toFixed(3)]);
  // Variants whose workgroup has a column group for every lane (WG x TN <= N vec4 columns).
  for (const [P, TN, WG] of [
    [4, 8, 64],
    [8, 8, 64],
    [8, 8, 32],
    [8, 4, 32],
    [8, 8, 16],
    [16, 4, 64],
  ] as const) {
    if (P * c * 4 > device.limits.maxComputeWorkgroupStorageSize || WG * TN > pw.cout / 4) continue;
    const ms = await time(fused(dw, pw, P, TN, WG));
    rows.push([what, `fused, ${P} positions x ${TN} vec4 columns, workgroup ${WG}`, ms.toFixed(3)]);
  }
}
console.log(
  `${acquired.backend} (${describeAdapter(acquired.adapter)}), median of ${args.runs} runs, wall clock per dispatch; the separate pair excludes its staging copy`,
);
console.log(
  table([{ title: "block" }, { title: "kernels" }, { title: "ms", align: "right" }], rows),
);
device.destroy();
process.exit(0);
