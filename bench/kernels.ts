// `npm run bench:kernels -- [--backend opengles]`: times single conv kernels at several register
// tiles, reading storage buffers or textures, the measurements behind `tuningFor`
// (runtime/device.ts) and compiler/kernels/texture.ts. Prints ms and GFLOP/s.
import { parseArgs } from "node:util";
import { compatLimits, type Kernel } from "../compiler/kernels/common.js";
import { convDirect } from "../compiler/kernels/conv-direct.js";
import { convDepthwise } from "../compiler/kernels/conv-depthwise.js";
import { convPointwise } from "../compiler/kernels/conv-pointwise.js";
import type { ConvSpec } from "../compiler/kernels/conv-spec.js";
import { table } from "../compiler/cli/format.js";
import type { Triple } from "../compiler/ir.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { describeAdapter, requestDevice } from "../runtime/device.js";
import { median } from "../runtime/cli/profile.js";
import { benchLimits, convTextures, timeDispatch } from "./common.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "opengles" },
    runs: { type: "string", default: "3" },
    only: { type: "string" }, // a substring of the kernel names to time
  },
});
const epilogue = { bias: true, relu: true, residual: false, reluAfterAdd: false };
const spec = (
  s: Omit<ConvSpec, "n" | "epilogue" | "pad"> & { pad?: ConvSpec["pad"] },
): ConvSpec => ({ n: 1, epilogue, pad: [0, 0, 0], ...s });
const pointwise = spec({
  cin: 256,
  input: [8, 28, 28],
  cout: 256,
  output: [8, 28, 28],
  kernel: [1, 1, 1],
  stride: [1, 1, 1],
  groups: 1,
});
const stem = spec({
  cin: 3,
  input: [8, 112, 112],
  cout: 64,
  output: [8, 56, 56],
  kernel: [3, 7, 7],
  stride: [1, 2, 2],
  pad: [1, 3, 3],
  groups: 1,
});
const depthwise = spec({
  cin: 64,
  input: [8, 28, 28],
  cout: 64,
  output: [8, 28, 28],
  kernel: [3, 3, 3],
  stride: [1, 1, 1],
  pad: [1, 1, 1],
  groups: 64,
});
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
    convDirect(stem, compatLimits, tw, cot),
  ),
  ...sweep("depthwise 3x3x3 64, 8x28x28", depthwise, "1x2 1x7", (th, tw) =>
    convDepthwise(depthwise, compatLimits, { th, tw }),
  ),
  // The texture variants (llvmpipe's tuning).
  ...sweep("1x1x1 256->256, 8x28x28", pointwise, "8x8 16x4 16x8 32x8", (rows, cols) =>
    convPointwise(pointwise, limits, { rows, cols }, textures(pointwise)),
  ),
  ...sweep("stem 3x7x7 3->64, 8x112x112", clipStem, "8x8 28x8 56x8 56x16", (tw, cot) =>
    convDirect(clipStem, limits, tw, cot, textures(clipStem)),
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

const acquired = await acquireAdapter(args.backend as Backend);
const device = await requestDevice(acquired.adapter);
const rows: string[][] = [];
for (const [what, s, k] of cases) {
  if (k.textures && device.limits.maxTextureDimension2D < limits.maxTextureDimension2D) continue;
  if (args.only && !k.name.includes(args.only)) continue;
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module: device.createShaderModule({ code: k.wgsl }), entryPoint: "main" },
  });
  const floats = [
    s.n * s.cin * s.input.reduce((a, b) => a * b),
    s.cout * (s.cin / s.groups) * s.kernel.reduce((a, b) => a * b) + s.cout,
    s.n * s.cout * s.output.reduce((a, b) => a * b),
  ];
  const buffers = floats.map((n) => device.createBuffer({ size: 4 * n, usage: 0x80 }));
  const made: (GPUBuffer | GPUTexture)[] = [...buffers];
  const shapes = [k.textures?.input, k.textures?.weights];
  const resources = buffers.map((buffer, i) => {
    const shape = shapes[i];
    if (!shape) return { buffer };
    const texture = device.createTexture({
      size: [shape.width, shape.height],
      format: "rgba32float",
      usage: 0x04, // TEXTURE_BINDING
    });
    made.push(texture);
    return texture.createView();
  });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: resources.map((resource, binding) => ({ binding, resource })),
  });
  // Short kernels run 16 to a submit (as profiles time them), so the submit and sync overhead
  // does not swamp them; the first run pays for first use, the second decides.
  const run = (repeats: number) => timeDispatch(device, pipeline, group, k.dispatch, repeats);
  await run(1);
  const repeats = (await run(1)) < 2 ? 16 : 1;
  const times: number[] = [];
  for (let i = 0; i < Number(args.runs); i++) times.push(await run(repeats));
  const ms = median(times);
  rows.push([
    what,
    k.name,
    String(repeats),
    ms.toFixed(repeats > 1 ? 3 : 1),
    (k.flops / ms / 1e6).toFixed(2),
  ]);
  for (const b of made) b.destroy();
}
// The floor under every kernel: an empty dispatch, 16 to a submit (as profiles time them).
{
  const code = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x == 0u) { out[0] = 1.0; } }`;
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
  const buffer = device.createBuffer({ size: 256, usage: 0x80 });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer } }],
  });
  const times: number[] = [];
  for (let i = 0; i < Number(args.runs) + 1; i++)
    times.push(await timeDispatch(device, pipeline, group, [8, 1, 1], 16));
  rows.push([
    "empty dispatch (8 workgroups)",
    "launch overhead",
    "16",
    median(times.slice(1)).toFixed(3),
    "",
  ]);
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
