// `npm run bench:kernels -- [--backend opengles] [--gpu-grade]`: times single conv kernels at
// several register tiles, reading storage buffers or textures: the measurements behind the
// tables of compiler/kernels/tuning.ts and the texture inputs of texture.ts. `--gpu-grade` times
// the workgroup-memory variants instead (conv-gemm, conv-pointwise-splitk, conv-implicit-gemm,
// conv-depthwise-halo, the subgroup split-K where the device has subgroups) beside the register
// kernels they compete with. Prints ms and GFLOP/s.
import { parseArgs } from "node:util";
import { compatLimits, type Kernel, type KernelLimits } from "../compiler/kernels/common.js";
import { convDirect } from "../compiler/kernels/conv-direct.js";
import { convDepthwise } from "../compiler/kernels/conv-depthwise.js";
import { convDepthwiseHalo } from "../compiler/kernels/conv-depthwise-halo.js";
import { convGemm } from "../compiler/kernels/conv-gemm.js";
import { convImplicitGemm } from "../compiler/kernels/conv-implicit-gemm.js";
import { convPointwise } from "../compiler/kernels/conv-pointwise.js";
import { convPointwiseSplitK } from "../compiler/kernels/conv-pointwise-splitk.js";
import type { ConvSpec } from "../compiler/kernels/conv-spec.js";
import { table } from "../cli/format.js";
import type { Triple } from "../compiler/ir.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { describeAdapter, requestDevice } from "../runtime/device.js";
import { benchLimits, convKernelToTime, convTextures, timeKernel } from "./common.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "opengles" },
    runs: { type: "string", default: "3" },
    only: { type: "string" }, // a substring of the kernel names to time
    "gpu-grade": { type: "boolean", default: false },
  },
});
const epilogue = { bias: true, relu: true, residual: false, reluAfterAdd: false };
/** A conv of one sample: Cin, input T x H x W, Cout, output, kernel, stride, padding, groups. */
const spec = (
  cin: number,
  input: Triple,
  cout: number,
  output: Triple,
  kernel: Triple,
  stride: Triple,
  pad: Triple,
  groups: number,
): ConvSpec => ({ n: 1, epilogue, cin, input, cout, output, kernel, stride, pad, groups });
const one: Triple = [1, 1, 1];
const pointwise = spec(256, [8, 28, 28], 256, [8, 28, 28], one, one, [0, 0, 0], 1);
const stem = spec(3, [8, 112, 112], 64, [8, 56, 56], [3, 7, 7], [1, 2, 2], [1, 3, 3], 1);
const depthwise = spec(64, [8, 28, 28], 64, [8, 28, 28], [3, 3, 3], one, one, 64);
const limits = benchLimits;
const textures = convTextures;
const clipStem = { ...stem, channelsFirstInput: true };
type Case = [string, ConvSpec, Kernel];
/** One case per tile of `tiles` ("AxB AxB ..."), its kernel made by `kernel(A, B)`. */
const sweep = (
  what: string,
  s: ConvSpec,
  tiles: string,
  kernel: (a: number, b: number) => Kernel,
): Case[] =>
  tiles.split(" ").map((tile) => {
    const [a, b] = tile.split("x").map(Number);
    return [what, s, kernel(a!, b!)];
  });
// res3's, res4's and res5's depthwise convs at this input: small planes, where the
// per-dispatch floor shows.
const depthwiseAt = (c: number, plane: Triple): ConvSpec => ({
  ...depthwise,
  cin: c,
  cout: c,
  groups: c,
  input: plane,
  output: plane,
});
const depthwiseTiles = (what: string, s: ConvSpec, tiles: string) =>
  sweep(what, s, tiles, (th, tw) => convDepthwise(s, limits, { th, tw }, textures(s)));

// Tiles are rows x vec4 columns (pointwise), outputs along W x vec4 channel groups (direct),
// outputs along H x W (depthwise).
const cases: Case[] = [
  ...sweep("1x1x1 256->256, 8x28x28", pointwise, "4x2 8x2 8x4 16x4 32x4 32x8", (rows, cols) =>
    convPointwise(pointwise, compatLimits, { rows, cols }),
  ),
  ...sweep("stem 3x7x7 3->64, 8x112x112", stem, "4x1 8x8 56x8", (tw, cot) =>
    convDirect(stem, compatLimits, { tw, cot }),
  ),
  ...sweep("depthwise 3x3x3 64, 8x28x28", depthwise, "1x2 1x7", (th, tw) =>
    convDepthwise(depthwise, compatLimits, { th, tw }),
  ),
  // The texture variants (llvmpipe's tuning).
  ...sweep("1x1x1 256->256, 8x28x28", pointwise, "8x8 16x4 16x8 32x8", (rows, cols) =>
    convPointwise(pointwise, limits, { rows, cols }, textures(pointwise)),
  ),
  ...sweep("stem 3x7x7 3->64, 8x112x112", clipStem, "8x8 28x8 56x8 56x16", (tw, cot) =>
    convDirect(clipStem, limits, { tw, cot }, textures(clipStem)),
  ),
  ...depthwiseTiles("depthwise 3x3x3 64, 8x28x28", depthwise, "1x7 1x14 2x7 4x7 2x14 4x4 7x7"),
  ...depthwiseTiles(
    "depthwise 3x3x3 128, 4x14x14",
    depthwiseAt(128, [4, 14, 14]),
    "2x7 4x7 7x7 14x14",
  ),
  ...depthwiseTiles("depthwise 3x3x3 256, 2x7x7", depthwiseAt(256, [2, 7, 7]), "2x7 4x7 7x7"),
  ...depthwiseTiles("depthwise 3x3x3 512, 1x4x4", depthwiseAt(512, [1, 4, 4]), "2x4 4x4"),
];

// res5's conv_a at 224 input: M = 4x7x7 = 196, K = 2048 (split-K's case).
const res5 = spec(2048, [4, 7, 7], 512, [4, 7, 7], one, one, [0, 0, 0], 1);
const gemmTile = (t: string) => {
  const [wm, wn, tm, tn, bk] = t.split(",").map(Number) as [number, number, number, number, number];
  return { wm, wn, tm, tn, bk };
};
/** The workgroup-memory variants (`--gpu-grade`), beside the register kernels they compete with. */
const gpuGrade = (l: KernelLimits): Case[] => [
  ...["8,8,8,2,2", "16,8,8,2,2", "16,8,4,2,2", "8,8,4,1,4"].flatMap((t): Case[] => [
    ["1x1x1 256->256, 8x28x28", pointwise, convGemm(pointwise, l, gemmTile(t))],
    [
      "1x1x1 256->256, 8x28x28",
      pointwise,
      convGemm(pointwise, l, gemmTile(t), textures(pointwise)),
    ],
  ]),
  ["1x1x1 256->256, 8x28x28", pointwise, convPointwise(pointwise, l, { rows: 8, cols: 2 })],
  ["res5 1x1x1 2048->512, 4x7x7", res5, convPointwise(res5, l, { rows: 4, cols: 2 })],
  ["res5 1x1x1 2048->512, 4x7x7", res5, convGemm(res5, l, gemmTile("8,8,4,1,4"))],
  ...["4x1x64", "2x2x64", "4x2x32", "8x2x16"].flatMap((t): Case[] => {
    const [rows, cols, split] = t.split("x").map(Number) as [number, number, number];
    return [false, ...(l.subgroups ? [true] : [])].map((sub) => [
      "res5 1x1x1 2048->512, 4x7x7",
      res5,
      convPointwiseSplitK(res5, l, { rows, cols, split }, sub),
    ]);
  }),
  ["stem 3x7x7 3->64, 8x112x112", clipStem, convDirect(clipStem, l, { tw: 4, cot: 4 })],
  ...["16,8,4,2,8", "8,8,8,2,8", "8,8,4,1,16"].map((t): Case => [
    "stem 3x7x7 3->64, 8x112x112",
    clipStem,
    convImplicitGemm(clipStem, l, gemmTile(t)),
  ]),
  ["depthwise 3x3x3 64, 8x28x28", depthwise, convDepthwise(depthwise, l, { th: 1, tw: 2 })],
  ...["8x8x1", "7x7x2", "4x8x2", "4x4x4"].map((t): Case => {
    const [th, tw, cg] = t.split("x").map(Number) as [number, number, number];
    return [
      "depthwise 3x3x3 64, 8x28x28",
      depthwise,
      convDepthwiseHalo(depthwise, l, { th, tw, cg }),
    ];
  }),
];

const acquired = await acquireAdapter(args.backend as Backend);
const device = await requestDevice(acquired.adapter);
if (args["gpu-grade"])
  cases.splice(
    0,
    cases.length,
    ...gpuGrade({ ...limits, subgroups: device.features.has("subgroups") }),
  );
const rows: string[][] = [];
for (const [what, s, k] of cases) {
  if (k.textures && device.limits.maxTextureDimension2D < limits.maxTextureDimension2D) continue;
  if (args.only && !k.name.includes(args.only)) continue;
  const { ms, repeats } = await timeKernel(device, convKernelToTime(s, k), Number(args.runs));
  rows.push([
    what,
    k.name,
    String(repeats),
    ms.toFixed(repeats > 1 ? 3 : 1),
    (k.flops / ms / 1e6).toFixed(2),
  ]);
}
// The floor under every kernel: an empty dispatch, 16 to a submit (as profiles time them).
{
  const wgsl = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x == 0u) { out[0] = 1.0; } }`;
  const empty = { wgsl, dispatch: [8, 1, 1] as const, resources: [64] };
  const { ms } = await timeKernel(device, empty, Number(args.runs), 16);
  rows.push(["empty dispatch (8 workgroups)", "launch overhead", "16", ms.toFixed(3), ""]);
}
console.log(
  `${acquired.backend} (${describeAdapter(acquired.adapter)}), median of ${args.runs} runs, wall clock per dispatch`,
);
console.log(
  table(
    [
      { title: "conv" },
      { title: "kernel" },
      { title: "per submit", align: "right" },
      { title: "ms", align: "right" },
      { title: "GFLOP/s", align: "right" },
    ],
    rows,
  ),
);
device.destroy();
process.exit(0);
