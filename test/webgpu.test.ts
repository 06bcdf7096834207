// Every kernel on both CPU WebGPU backends: the PyTorch fixtures, then randomised differential
// tests against the float64 reference executor covering every kernel variant.
import type { KernelChoice } from "../compiler/kernels/choice.js";
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { acquireAdapter } from "../runtime/adapter-node.js";
import { testBackends } from "./backends.js";
import { requestDevice } from "../runtime/device.js";
import { createSession } from "../runtime/session.js";
import { batch1T1Cases, modelCases, opCases } from "./fixtures.js";
import { root } from "./csnc-process.js";
import { buildGraph, differential, relL2, runFixture, runGpu } from "./gpu.js";
import { shippedModel } from "./helpers.js";

/** Whether a dispatch reads its input from a texture, by its recorded choice. */
const readsTexture = (c: KernelChoice) => "storage" in c && c.storage === "texture";

const backends = testBackends();

// [name, body, C x T x H x W input, batch, expected kernel (a substring of its name)]
const variants: [string, string, string, number, string][] = [
  ["pointwise vec4, small-M tile", "conv(16, 1x1x1)", "8x4x9x9", 1, "conv-pointwise-vec4-1x1"],
  ["pointwise vec4, odd rows", "conv(12, 1x1x1) relu", "8x3x5x7", 2, "conv-pointwise-vec4"],
  [
    "pointwise scalar (channels not a multiple of 4)",
    "conv(6, 1x1x1) bn relu",
    "5x3x5x6",
    1,
    "conv-pointwise-scalar",
  ],
  [
    "pointwise strided (projection)",
    "conv(16, 1x1x1, stride = 2)",
    "8x5x9x7",
    2,
    "conv-pointwise-strided-vec4",
  ],
  [
    "pointwise strided 1x2x2",
    "conv(8, 1x1x1, stride = 1x2x2)",
    "4x3x6x5",
    1,
    "conv-pointwise-strided",
  ],
  [
    "depthwise vec4, stride 1",
    "dwconv(3x3x3) bn relu",
    "8x4x7x9",
    2,
    "conv-depthwise-vec4-k3x3x3-s1x1x1-tw2",
  ],
  [
    "depthwise vec4, stride 2",
    "dwconv(3x3x3, stride = 2)",
    "16x5x9x11",
    1,
    "conv-depthwise-vec4-k3x3x3-s2x2x2",
  ],
  ["depthwise scalar, 5x5x5", "dwconv(5x5x5)", "6x5x6x7", 1, "conv-depthwise-scalar-k5x5x5"],
  ["depthwise, narrow output (tw 1)", "dwconv(3x3x3)", "8x3x4x3", 1, "tw1"],
  [
    "direct vec4 stem",
    "conv(8, 3x7x7, stride = 1x2x2) bn relu",
    "3x5x13x13",
    2,
    "conv-direct-ncthw-vec4-k3x7x7",
  ],
  ["direct vec4 dense 3x3x3", "conv(12, 3x3x3)", "8x4x7x7", 1, "conv-direct-ncthw-vec4-k3x3x3"],
  [
    "direct vec4 on a channels-last input",
    "relu conv(12, 3x3x3, stride = 2)",
    "8x4x7x7",
    2,
    "conv-direct-vec4-k3x3x3",
  ],
  [
    "direct scalar on a channels-last input",
    "relu conv(6, 3x3x3, groups = 3)",
    "6x3x5x5",
    1,
    "conv-direct-scalar",
  ],
  ["direct grouped", "conv(16, 3x3x3, groups = 4)", "16x4x7x6", 1, "g4"],
  [
    "direct scalar grouped (2 channels a group)",
    "conv(6, 3x3x3, groups = 3, stride = 2)",
    "6x5x7x7",
    1,
    "conv-direct-ncthw-scalar",
  ],
  ["direct with bias, 1x3x3", "conv(12, 1x3x3, bias = true)", "8x4x7x7", 1, "conv-direct"],
  ["direct padded 1x1x1", "conv(8, 1x1x1, pad = 1)", "4x2x3x3", 1, "conv-direct"],
  ["maxpool vec4", "maxpool(1x3x3, stride = 1x2x2, pad = 0x1x1)", "8x3x9x9", 2, "maxpool-vec4"],
  ["maxpool scalar", "maxpool(3x3x3, stride = 2, pad = 1)", "3x5x7x7", 1, "maxpool-scalar"],
  ["avgpool windowed", "avgpool(2x2x2, pad = 1)", "8x4x5x5", 1, "avgpool-vec4"],
  ["global avgpool + fc vec4", "avgpool fc(10)", "16x3x4x5", 3, "fc-vec4"],
  ["fc scalar over flattened C x T x H x W", "fc(7)", "3x2x3x5", 2, "fc-scalar"],
  ["softmax over classes", "avgpool fc(9) softmax", "8x2x2x2", 2, "softmax"],
  ["standalone bn, relu, add", "residual { relu bn } relu", "8x2x3x3", 1, "add-relu"],
  [
    "residual fused with identity",
    "residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(8, 1x1x1) bn } relu",
    "8x3x5x6",
    2,
    "conv-pointwise",
  ],
  [
    "residual fused with projection",
    "residual { conv(4, 1x1x1) bn relu dwconv(stride = 2) bn relu conv(16, 1x1x1) bn } relu",
    "8x5x6x7",
    1,
    "conv-pointwise-strided",
  ],
];

// The texture-input variants (llvmpipe's tuning): inputs whose W x C/4 is a multiple of 16.
const textureVariants: [string, string, string, number, string][] = [
  ["maxpool", "maxpool(1x3x3, stride = 1x2x2, pad = 0x1x1)", "16x3x9x8", 2, "maxpool-tex-vec4"],
  ["avgpool windowed", "avgpool(2x2x2, pad = 1)", "16x4x5x8", 1, "avgpool-tex-vec4"],
  ["pointwise", "conv(32, 1x1x1) bn relu", "16x3x5x8", 2, "conv-pointwise-tex-vec4"],
  [
    "pointwise strided",
    "conv(16, 1x1x1, stride = 1x2x2)",
    "16x3x7x8",
    1,
    "conv-pointwise-strided-tex",
  ],
  [
    "pointwise with a fused residual",
    "conv(64, 1x1x1) residual { conv(16, 1x1x1) bn relu conv(64, 1x1x1) bn } relu",
    "16x2x3x4",
    2,
    "conv-pointwise-tex",
  ],
  ["depthwise stride 1", "dwconv(3x3x3) bn relu", "16x4x7x8", 2, "conv-depthwise-tex-vec4"],
  ["depthwise stride 2", "dwconv(3x3x3, stride = 2)", "32x5x9x4", 1, "conv-depthwise-tex"],
  [
    "stem from the clip texture",
    "conv(16, 3x7x7, stride = 1x2x2) bn relu",
    "3x4x11x13",
    2,
    "conv-direct-tex-clip",
  ],
  // A one-channel clip's texel holds its channel in .x: the kernel once multiplied all four.
  [
    "stem from a one-channel clip",
    "conv(8, 1x3x3, pad = 0x1x1)",
    "1x3x6x8",
    2,
    "conv-direct-tex-clip",
  ],
  ["direct dense 3x3x3", "relu conv(16, 3x3x3)", "16x4x6x8", 1, "conv-direct-tex-vec4-k3x3x3"],
  [
    "direct grouped, strided",
    "relu conv(16, 3x3x3, groups = 2, stride = 2)",
    "16x5x7x8",
    2,
    "conv-direct-tex-vec4-k3x3x3-s2x2x2-g2",
  ],
];

for (const backend of backends) {
  describe(`WebGPU on ${backend}`, () => {
    describe("PyTorch op fixtures", () => {
      for (const c of opCases()) {
        it(c.name, async () => {
          const graph = buildGraph(c.source, { batch: c.batch });
          const out = await runGpu(backend, graph, c.input, c.weights);
          expect(
            relL2(c.probabilities ? out.probabilities : out.logits, c.output.data!),
          ).toBeLessThan(1e-4);
        });
      }
    });

    describe("PyTorch model fixtures (VMZ names)", () => {
      for (const c of [...modelCases(), ...batch1T1Cases()]) {
        it(c.name, async () => {
          for (const textures of [false, true]) {
            const out = await runFixture(backend, c, { textures });
            if (textures)
              expect(out.plan.dispatches.some((d) => readsTexture(d.choice))).toBe(true);
            expect(relL2(out.logits, c.logits.data!)).toBeLessThan(1e-4);
            expect(relL2(out.probabilities, c.probabilities.data!)).toBeLessThan(1e-4);
          }
        });
      }
    });

    describe("differential against the float64 reference", () => {
      variants.forEach(([name, body, input, batch, kernel], i) => {
        it(name, async () => {
          const graph = buildGraph(`model m() { input ${input}  ${body} }`, { batch });
          const r = await differential(backend, graph, { seed: 100 + i });
          expect(r.plan.dispatches.map((d) => d.kernel).join(" ")).toContain(kernel);
          expect(r.error).toBeLessThan(1e-5);
        });
      });

      textureVariants.forEach(([name, body, input, batch, kernel], i) => {
        it(`texture inputs: ${name}`, async () => {
          const graph = buildGraph(`model m() { input ${input}  ${body} }`, { batch });
          const r = await differential(backend, graph, {
            seed: 200 + i,
            tuning: { textures: true },
          });
          expect(r.plan.dispatches.map((d) => d.kernel).join(" ")).toContain(kernel);
          expect(r.error).toBeLessThan(1e-5);
        });
      });

      it("texture inputs: every tile, staging copies shared by a tensor's readers", async () => {
        const graph = buildGraph(
          `model m() { input 16x3x5x8  residual { conv(16, 1x1x1) bn relu dwconv bn relu conv(32, 1x1x1) bn } relu }`,
        );
        for (const minInvocations of [1, 100, 1e9]) {
          const r = await differential(backend, graph, {
            tuning: { textures: true, minInvocations, maxTileArea: 128 },
          });
          // The block's input feeds the first conv and the projection: staged once, so three
          // copies (the input, the first conv's and the depthwise conv's outputs) for four convs.
          expect(r.plan.dispatches.filter((d) => d.stage).length).toBe(3);
          expect(r.error).toBeLessThan(1e-5);
        }
      });

      it("every depthwise tile, buffers and textures, stride 1 and 2", async () => {
        for (const body of ["dwconv(3x3x3) bn relu", "dwconv(3x3x3, stride = 2)"]) {
          const graph = buildGraph(`model m() { input 16x3x9x8  ${body} }`, { batch: 2 });
          for (const depthwiseTile of [
            { th: 2, tw: 7 },
            { th: 7, tw: 7 },
            { th: 4, tw: 4 },
            { th: 3, tw: 2 },
          ]) {
            for (const textures of [false, true]) {
              const r = await differential(backend, graph, {
                tuning: { depthwiseTile, textures },
              });
              expect(readsTexture(r.plan.dispatches[0]!.choice)).toBe(textures);
              expect(r.plan.dispatches[0]!.kernel).toContain(textures ? "-tex" : "-vec4");
              expect(r.error).toBeLessThan(1e-5);
            }
          }
        }
      });

      it("every pointwise tile, from the small-M variant to the largest", async () => {
        const graph = buildGraph(`model m() { input 8x3x5x7  conv(16, 1x1x1) bn relu }`, {
          batch: 2,
        });
        for (const minInvocations of [1, 100, 200, 1e9]) {
          const r = await differential(backend, graph, { tuning: { minInvocations } });
          expect(r.error).toBeLessThan(1e-5);
        }
      });

      it("the naive benchmark baseline computes the same convs", async () => {
        const graph = buildGraph(
          `model m() { input 8x4x7x7  conv(8, 3x3x3, stride = 2) bn relu residual { conv(4, 1x1x1) dwconv conv(8, 1x1x1, groups = 2) } relu avgpool fc(3) }`,
        );
        const r = await differential(backend, graph, { tuning: { naive: true } });
        expect(r.plan.dispatches.filter((d) => d.kernel.startsWith("conv-naive"))).toHaveLength(4);
        expect(r.error).toBeLessThan(1e-5);
      });

      it("folds grids larger than the device's workgroups per dimension", async () => {
        const graph = buildGraph(
          `model m() { input 8x4x9x9  conv(8, 1x1x1) dwconv relu maxpool(1x3x3, stride = 1, pad = 0x1x1) conv(12, 3x3x3) avgpool fc(5) }`,
          { batch: 2 },
        );
        const r = await differential(backend, graph, {
          limits: { maxComputeWorkgroupsPerDimension: 8 },
          tuning: { minInvocations: 1 },
        });
        expect(r.plan.dispatches.some((d) => d.workgroups[1] > 1)).toBe(true);
        expect(r.error).toBeLessThan(1e-5);
      });

      it("unseen networks of the model library at other widths, depths and inputs", async () => {
        for (const [model, set, input, batch] of [
          ["ip-csn-26.csn", { width: 4, classes: 5 }, [3, 4, 20, 20], 2],
          [
            "variants/bottleneck-dg.csn",
            { width: 8, classes: 3, groups: 2, res3: 1, res4: 1 },
            [3, 4, 16, 16],
            1,
          ],
          ["variants/simple-d.csn", { width: 4, classes: 6 }, [3, 3, 18, 14], 1],
        ] as const) {
          const graph = shippedModel(model, set, input, batch);
          const r = await differential(backend, graph);
          expect(r.error, model).toBeLessThan(1e-4);
        }
      });
    });
  });
}

describe("device trouble", () => {
  it("reports a lost device as a CsncError, not a crash", async () => {
    const adapter = await acquireAdapter(backends[0]);
    const device = await requestDevice(adapter.adapter);
    const graph = buildGraph(`model m() { input 8x2x4x4  conv(8, 1x1x1) relu avgpool fc(3) }`);
    const session = await createSession({ graph, tuning: {}, weights: { random: 1 }, device });
    device.destroy();
    await new Promise((r) => setTimeout(r, 10));
    await expect(session.run(new Float32Array(8 * 2 * 4 * 4))).rejects.toThrow(
      /GPU device was lost/,
    );
    await expect(session.run(new Float32Array(5))).rejects.toThrow(
      /the model was compiled for 1x8x2x4x4/,
    );
  });
});

// Only where llvmpipe is among the adapters under test (CI; not a GPU run of bench/gpu.ts).
describe.runIf(backends.includes("opengles"))("llvmpipe's threads", () => {
  // In a child process, as Mesa reads LP_NUM_THREADS once per adapter: its rasterizer threads
  // (named llvmpipe-N) after a device and a dispatch, and the variable the process is left with.
  const afterAcquire = (env: NodeJS.ProcessEnv) => {
    const script = `import { readdirSync, readFileSync } from "node:fs";
import { acquireAdapter } from ${JSON.stringify(path.join(root, "runtime/adapter-node.ts"))};
const acquired = await acquireAdapter("opengles");
const device = await acquired.adapter.requestDevice();
const module = device.createShaderModule({ code: "@compute @workgroup_size(1) fn main() {}" });
const pipeline = device.createComputePipeline({ layout: "auto", compute: { module } });
const encoder = device.createCommandEncoder();
const pass = encoder.beginComputePass();
pass.setPipeline(pipeline);
pass.dispatchWorkgroups(1);
pass.end();
device.queue.submit([encoder.finish()]);
await device.queue.onSubmittedWorkDone();
const names = readdirSync("/proc/self/task").map((t) => readFileSync("/proc/self/task/" + t + "/comm", "utf8"));
console.log(JSON.stringify({
  threads: names.filter((n) => /^llvmpipe-\\d+/.test(n)).length,
  reported: acquired.llvmpipeThreads ?? null,
  left: process.env.LP_NUM_THREADS ?? null,
}));
process.exit(0);`;
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        cwd: root,
        env,
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.status, r.error?.message ?? r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  };

  it("runs twice as many as CPUs (Mesa's cap 32) and leaves no LP_NUM_THREADS behind", () => {
    const { LP_NUM_THREADS: _, ...env } = process.env;
    const cpus = availableParallelism();
    const chosen = cpus < 2 ? undefined : Math.min(32, 2 * cpus);
    const r = afterAcquire(env);
    if (chosen) expect(r).toEqual({ threads: chosen, reported: String(chosen), left: null });
    else expect(r).toMatchObject({ reported: null, left: null }); // one CPU: Mesa's own way
  });

  it("keeps the user's LP_NUM_THREADS", () => {
    expect(afterAcquire({ ...process.env, LP_NUM_THREADS: "3" })).toEqual({
      threads: 3,
      reported: "3",
      left: "3",
    });
  });
});
