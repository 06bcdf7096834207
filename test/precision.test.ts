// `--precision f16-storage`: activations and weights stored as halves, arithmetic in float32.
// The host's half conversions against IEEE 754's; the memory plan halves; and the error budget
// (compiler/kernels/format.ts) on every PyTorch fixture, on both CPU adapters: logits within
// 1e-2 relative of PyTorch's with the same top-1 class, ops within a few half roundings.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileGraph, lower } from "../compiler/compile.js";
import type { Graph } from "../compiler/ir.js";
import { candidates } from "../compiler/kernels/candidates.js";
import type { KernelChoice } from "../compiler/kernels/choice.js";
import { unlimitedLimits, type KernelLimits } from "../compiler/kernels/common.js";
import { f32Io, type Precision } from "../compiler/kernels/format.js";
import { withFormats } from "../compiler/plan/formats.js";
import { clipLayout, stepKey } from "../compiler/kernels/select.js";
import type { Tuning } from "../compiler/kernels/tuning.js";
import { buildPlan, shaderKernel, type Plan } from "../compiler/plan.js";
import { viewsPerBatch } from "../runtime/classify.js";
import { kernelLimits } from "../runtime/device.js";
import { createSession } from "../runtime/session.js";
import { runReference } from "./reference/executor.js";
import { fromHalf, roundToHalf, toHalf, toHalves } from "../compiler/kernels/halves.js";
import { defaultTuning } from "../compiler/kernels/tuning.js";
import type { Backend } from "../runtime/adapter-node.js";
import { hardwareBackends, testBackends } from "./backends.js";
import { batch1T1Cases, modelCases, opCases, type ModelCase } from "./fixtures.js";
import {
  buildGraph,
  differential,
  gpuDevice,
  randomArray,
  relL2,
  runFixture,
  runGpu,
} from "./gpu.js";
import { run, shippedModel } from "./helpers.js";

const backends = testBackends();

/** The class of the largest logit of each of `n` samples. */
function top1(logits: Float32Array, n: number): number[] {
  const k = logits.length / n;
  return [...Array(n).keys()].map((i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    return best;
  });
}

/** A PyTorch model fixture in halves, read from buffers and from textures: logits within 1e-2
 * of PyTorch's with the same top-1 class, most tensors stored as halves. */
async function expectFixture(backend: Backend, c: ModelCase, precision: Precision): Promise<void> {
  const n = c.input.shape[0]!;
  for (const textures of [false, true]) {
    const out = await runFixture(backend, c, { textures, precision });
    expect(out.plan.tensors.filter((t) => t.format === "f16").length).toBeGreaterThan(10);
    expect(relL2(out.logits, c.logits.data!)).toBeLessThan(1e-2);
    expect(top1(out.logits, n)).toEqual(top1(c.logits.data!, n));
  }
}

describe("half conversions", () => {
  it("round to nearest even, keep subnormals and saturate past the half range", () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(0.5)).toBe(0x3800);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(1e6)).toBe(0x7bff); // saturates, as pack4h in the kernels does
    expect(toHalf(-Infinity)).toBe(0xfbff);
    expect(fromHalf(toHalf(NaN))).toBeNaN();
    expect(toHalf(2 ** -24)).toBe(0x0001); // the smallest subnormal
    expect(toHalf(2 ** -26)).toBe(0x0000); // below half of it: zero
    expect(toHalf(-0)).toBe(0x8000);
    // Ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
  });

  it("every finite half survives the round trip, and rounding is within half an ulp", () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = fromHalf(h);
      if (Number.isFinite(x)) expect(toHalf(x)).toBe(Object.is(x, -0) ? 0x8000 : h);
    }
    for (const x of [0.1, 1 / 3, Math.PI, 1234.5678, -0.000123, 7e-6]) {
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(x))) - 10);
      expect(Math.abs(roundToHalf(x) - x)).toBeLessThanOrEqual(Math.max(ulp, 2 ** -24) / 2);
    }
    expect(toHalves([1, 2, 3])).toHaveLength(4); // padded to whole u32s
  });
});

// A grouped conv whose groups' channels are not in fours writes float32, the convs after it
// halves: both staged through textures of one size (they once shared one texture).
const mixed =
  "model m() { input 8x2x4x64  conv(16, 1x3x3, groups = 8) relu conv(16, 1x1x1) relu conv(16, 1x1x1) relu conv(16, 1x1x1) }";
// A softmax inside the network reads float32 (its producer writes it so).
const innerSoftmax = "model m() { input 8x2x4x4  conv(16, 1x1x1) softmax conv(16, 1x1x1) }";

describe("the memory plan in f16 storage", () => {
  const cases: [string, number[], number][] = [
    ["ir-csn-50.csn", [3, 8, 112, 112], 1],
    ["ip-csn-152.csn", [3, 32, 224, 224], 1],
    ["ir-csn-26.csn", [3, 8, 112, 112], 4],
  ];
  it.each(cases)(
    "%s at %j, batch %i: activations, textures and weights halve",
    (file, input, batch) => {
      const graph = shippedModel(file, {}, input, batch);
      for (const tuning of [defaultTuning.llvmpipe, defaultTuning.swiftshader, {}]) {
        const full = compileGraph(graph, unlimitedLimits, tuning).memory;
        const half = compileGraph(graph, unlimitedLimits, tuning, {
          precision: "f16-storage",
        }).memory;
        const peak = (m: typeof full) => m.activationBytes + m.textureBytes;
        expect(peak(half) / peak(full)).toBeGreaterThan(0.5 * 0.95);
        expect(peak(half) / peak(full)).toBeLessThan(0.5 * 1.05);
        expect(half.weightBytes / full.weightBytes).toBeCloseTo(0.5, 2);
      }
    },
  );

  it("stages each tensor into a texture of its own format, and feeds softmax float32", () => {
    const plan = compileGraph(buildGraph(mixed), unlimitedLimits, defaultTuning.llvmpipe, {
      precision: "f16-storage",
    });
    const formats = new Set<string>();
    for (const d of plan.dispatches)
      if (d.stage) {
        const tensor = plan.tensors.find((t) => t.id === d.stage!.tensor)!;
        const texture = plan.textures[d.stage.texture]!;
        expect(texture.format, d.path).toBe(tensor.format);
        formats.add(tensor.format ?? "f32");
      }
    expect([...formats].sort()).toEqual(["f16", "f32"]);

    const soft = compileGraph(
      buildGraph(innerSoftmax),
      unlimitedLimits,
      {},
      {
        precision: "f16-storage",
      },
    );
    const softmax = soft.dispatches.find((d) => d.kernel === "softmax")!;
    const read = soft.tensors.find(
      (t) => t.id === (softmax.bindings[0] as { tensor: number }).tensor,
    )!;
    expect(read.format).toBeUndefined();
  });

  it("classify --memory fits twice the views a batch", () => {
    const single = shippedModel("ir-csn-50.csn", {}, [3, 8, 112, 112], 1);
    const budget = 64 * 2 ** 20;
    const full = viewsPerBatch(single, 30, budget);
    const half = viewsPerBatch(single, 30, budget, "f16-storage");
    expect(full).toBeLessThan(15);
    expect(half).toBeGreaterThanOrEqual(2 * full);
    expect(half).toBeLessThanOrEqual(2 * full + 1);
  });

  it("keeps the logits and probabilities in float32, whichever step writes them", () => {
    const graph = buildGraph("model m() { input 8x2x4x4  conv(16, 1x1x1) relu }");
    const plan = compileGraph(graph, unlimitedLimits, {}, { precision: "f16-storage" });
    const tensor = (id: number) => plan.tensors.find((t) => t.id === id)!;
    expect(tensor(plan.input.tensor).format).toBe("f16");
    expect(tensor(plan.logits.tensor).format).toBeUndefined();
    expect(tensor(plan.probabilities.tensor).format).toBeUndefined();
    expect(plan.precision).toBe("f16-storage");
  });
});

for (const backend of backends)
  describe(`f16 storage against PyTorch on ${backend}`, () => {
    for (const c of [...modelCases(), ...batch1T1Cases()])
      it(`${c.name}: logits within 1e-2, the same top-1`, () =>
        expectFixture(backend, c, "f16-storage"));

    it("mixed formats through shared staging sizes, and an inner softmax, match the reference", async () => {
      for (const [source, textures] of [
        [mixed, true],
        [innerSoftmax, false],
      ] as const) {
        const r = await differential(backend, buildGraph(source), {
          tuning: { textures },
          precision: "f16-storage",
        });
        expect(r.error, source).toBeLessThan(8 * 2 ** -11);
      }
    });

    it("every op fixture within a few half roundings", async () => {
      for (const c of opCases()) {
        const graph = buildGraph(c.source, { batch: c.batch });
        const out = await runGpu(backend, graph, c.input, c.weights, { precision: "f16-storage" });
        const error = relL2(c.probabilities ? out.probabilities : out.logits, c.output.data!);
        expect(error, c.name).toBeLessThan(8 * 2 ** -11);
      }
    });
  });

// `--precision f16` (half arithmetic, shader-f16) cannot run here: neither CPU adapter has the
// feature. Its kernels are checked three ways instead. The WGSL of a whole network is inspected
// (halves declared natively, products widened into float32 accumulators). Every kernel, with
// float32 storage and half arithmetic, is run with f16 spelled f32: valid WGSL that must give
// float32's numbers, which checks each generator's indexing and where it converts (a mix of
// f16 and f32 that real hardware would reject is not caught this way). And a plan in f16 is
// refused, clearly, by an adapter without the feature.
/** `wgsl` with the half type spelled float32: what the CPU adapters can compile and run. */
const emulated = (wgsl: string) => wgsl.replace(/^enable f16;\n/, "").replace(/\bf16\b/g, "f32");

/** A plan whose every step multiplies in f16 but stores float32 (its shaders emulated). */
function halfArithmeticPlan(graph: Graph, limits: KernelLimits, tuning: Tuning): Plan {
  const g = lower(graph);
  const nodes = g.nodes.map((n) => ({ ...n, formats: { ...f32Io, arith: "f16" as const } }));
  const plan = buildPlan({ ...g, nodes }, limits, tuning);
  return { ...plan, shaders: plan.shaders.map(emulated) };
}

// Every default family and variant: buffers and textures, vec4 and scalar, the clip as given,
// transposed or as a texture, pools, the head, elementwise steps and fused residuals.
const arithmeticCases: [string, string, number, Tuning][] = [
  ["8x3x5x7", "conv(12, 1x1x1) relu conv(16, 1x1x1, stride = 2)", 2, {}],
  ["5x3x5x6", "conv(6, 1x1x1) bn relu", 1, {}],
  [
    "8x4x7x9",
    "dwconv(3x3x3) bn relu dwconv(3x3x3, stride = 2)",
    2,
    { depthwiseTile: { th: 2, tw: 3 } },
  ],
  ["6x5x6x7", "dwconv(5x5x5)", 1, {}],
  ["3x5x13x13", "conv(8, 3x7x7, stride = 1x2x2) bn relu", 2, { directTile: { tw: 3, cot: 2 } }],
  ["6x3x5x5", "relu conv(6, 3x3x3, groups = 3)", 1, {}],
  ["8x3x9x9", "maxpool(1x3x3, stride = 1x2x2, pad = 0x1x1) avgpool(2x2x2, pad = 1)", 2, {}],
  ["16x3x4x5", "avgpool fc(10)", 3, {}],
  ["3x2x3x5", "fc(7)", 2, {}],
  ["8x2x3x3", "residual { relu bn } relu", 1, {}],
  [
    "8x5x6x7",
    "residual { conv(4, 1x1x1) bn relu dwconv(stride = 2) bn relu conv(16, 1x1x1) bn } relu",
    1,
    {},
  ],
  ["16x3x5x8", "conv(32, 1x1x1) bn relu dwconv(3x3x3) bn relu", 2, { textures: true }],
  [
    "16x4x6x8",
    "relu conv(16, 3x3x3) maxpool(1x3x3, stride = 1x2x2, pad = 0x1x1)",
    1,
    { textures: true },
  ],
  ["3x4x11x13", "conv(16, 3x7x7, stride = 1x2x2) bn relu", 2, { textures: true }],
  ["1x3x6x8", "conv(8, 1x3x3, pad = 0x1x1)", 1, { textures: true }],
];

describe("--precision f16: half arithmetic, float32 accumulation", () => {
  it("declares halves natively and widens every product sum into float32 accumulators", () => {
    const graph = shippedModel("ir-csn-50.csn", {}, [3, 8, 56, 56], 1);
    for (const tuning of [{}, defaultTuning.llvmpipe]) {
      const plan = compileGraph(graph, unlimitedLimits, tuning, { precision: "f16" });
      expect(plan.precision).toBe("f16");
      for (const [i, wgsl] of plan.shaders.entries()) {
        const name = shaderKernel(plan, i);
        if (name === "softmax") continue; // logits in, probabilities out: float32
        expect(wgsl, name).toMatch(/^enable f16;\n/);
        expect(wgsl, name).not.toMatch(/pack4h|unpack4h|array<vec2<u32>>/);
        for (const line of wgsl.split("\n").filter((l) => /\bacc\w* \+= /.test(l)))
          expect(line, name).toMatch(/acc\w* \+= (vec4<f32>|f32)\(/);
        for (const acc of wgsl.matchAll(/var (acc\w*) = ([^;]+);/g))
          expect(acc[2], `${name}: ${acc[1]}`).toMatch(/^(vec4<f32>|f32)\(/);
      }
      // The same bytes as f16 storage: a plan's memory does not depend on the arithmetic.
      const storage = compileGraph(graph, unlimitedLimits, tuning, { precision: "f16-storage" });
      expect(plan.memory).toEqual(storage.memory);
      expect(plan.tensors).toEqual(storage.tensors);
    }
  });

  it("type-checks with f16 spelled i32, so that a mix of halves and floats is an error", async () => {
    // Tint here rejects `enable f16`; spelled i32 (whole-number literals in its places made
    // integers), every f16/f32 mix that a real f16 device rejects becomes a type error too.
    const asInt = (wgsl: string) =>
      wgsl
        .replace(/^enable f16;\n/, "")
        .replace(/\bf16\b/g, "i32")
        .replace(/\b(vec[234]<i32>|i32)\((-?\d+)\.0\)/g, "$1($2)")
        .replace(/return (\d+)\.0;/g, "return $1;");
    const { device } = await gpuDevice(backends[0]!);
    const limits = kernelLimits(device);
    const shaders = new Map<string, string>();
    const add = (name: string, wgsl: string) => shaders.set(wgsl, name);
    const plans = [
      ...arithmeticCases.map(([input, body, batch, tuning]) => {
        const graph = buildGraph(`model m() { input ${input}  ${body} }`, { batch });
        return compileGraph(graph, limits, tuning, { precision: "f16" });
      }),
      ...[{}, defaultTuning.llvmpipe].map((tuning) =>
        compileGraph(shippedModel("ir-csn-50.csn", {}, [3, 4, 32, 32], 1), limits, tuning, {
          precision: "f16",
        }),
      ),
    ];
    for (const plan of plans) plan.shaders.forEach((w, i) => add(shaderKernel(plan, i), w));
    // Every candidate variant of a small CSN's steps, the GPU-grade ones included.
    const graph = buildGraph(
      "model m() { input 3x2x8x8  conv(8, 3x7x7, stride = 1x2x2, pad = 1x3x3) bn relu residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(16, 1x1x1) bn } relu avgpool fc(5) }",
    );
    for (const tuning of [{}, defaultTuning.llvmpipe]) {
      const g = withFormats(lower(graph), "f16", false);
      const byId = new Map(g.nodes.map((n) => [n.id, n]));
      const layout = clipLayout(g, limits, tuning);
      for (const n of g.nodes.filter((x) => x.op.kind !== "input"))
        for (const c of candidates(n, byId.get(n.inputs[0]!)!, limits, layout, tuning))
          add(c.kernel.name, c.kernel.wgsl);
    }
    expect(shaders.size).toBeGreaterThan(60);
    const failures: string[] = [];
    for (const [wgsl, name] of shaders) {
      // The enable, where there is one, comes first.
      expect(wgsl.indexOf("enable f16;"), name).toBeLessThanOrEqual(0);
      const module = device.createShaderModule({ code: asInt(wgsl) });
      const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
      if (errors.length) failures.push(`${name}: ${errors[0]!.message.split("\n")[0]}`);
    }
    expect(failures).toEqual([]);
  });

  for (const backend of backends)
    it(`every kernel, emulated in float32, gives float32's numbers on ${backend}`, async () => {
      const { device } = await gpuDevice(backend);
      const limits = kernelLimits(device);
      for (const [i, [input, body, batch, tuning]] of arithmeticCases.entries()) {
        const source = `model m() { input ${input}  ${body} }`;
        const graph = buildGraph(source, { batch });
        const plan = halfArithmeticPlan(graph, limits, tuning);
        for (const d of plan.dispatches)
          if (d.kernel !== "softmax") expect(d.kernel, source).toMatch(/-a16$/);
        const x = randomArray(
          graph.nodes[0]!.shape.reduce((a, b) => a * b, 1),
          30 + i,
        );
        const session = await createSession({ plan, weights: { random: 40 + i }, device });
        try {
          const out = await session.run(x);
          const weights = new Map([...session.tensors].map(([k, v]) => [k, v.data!]));
          const ref = runReference(graph, x, weights);
          const last = graph.nodes.at(-1)!;
          const expected = ref.get(last.op.kind === "softmax" ? last.inputs[0]! : last.id)!;
          expect(relL2(out.logits, expected.data), source).toBeLessThan(1e-5);
        } finally {
          session.destroy();
        }
      }
    });

  for (const backend of backends)
    it(`the GPU-grade candidates, emulated, give float32's numbers on ${backend}`, async () => {
      const { device } = await gpuDevice(backend);
      const limits = kernelLimits(device);
      const graph = buildGraph(
        "model m() { input 3x2x8x8  conv(8, 3x7x7, stride = 1x2x2, pad = 1x3x3) bn relu residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(16, 1x1x1) bn } relu avgpool fc(5) }",
      );
      const g = lower(graph);
      const nodes = g.nodes.map((n) => ({ ...n, formats: { ...f32Io, arith: "f16" as const } }));
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const layout = clipLayout({ ...g, nodes }, limits);
      // Each GPU-grade family in turn on every step that offers one, its smallest tile.
      const gpuGrade =
        /^(conv-(gemm|pointwise-splitk|implicit-gemm|depthwise-halo)|global-avgpool-reduce)/;
      const rounds = new Map<string, KernelChoice[]>();
      for (const n of nodes.filter((x) => x.op.kind === "conv" || x.op.kind === "global_avgpool")) {
        const offered = candidates(n, byId.get(n.inputs[0]!)!, limits, layout).filter((c) =>
          gpuGrade.test(c.kernel.name),
        );
        rounds.set(
          stepKey(n, byId.get(n.inputs[0]!)!),
          offered.map((c) => c.choice),
        );
      }
      const families = Math.max(...[...rounds.values()].map((l) => l.length));
      expect(families).toBeGreaterThan(0);
      for (let turn = 0; turn < Math.min(families, 3); turn++) {
        const choices = Object.fromEntries(
          [...rounds].filter(([, l]) => l.length).map(([k, l]) => [k, l[turn % l.length]!]),
        );
        const plan = halfArithmeticPlan(graph, limits, { choices });
        expect(plan.dispatches.some((d) => gpuGrade.test(d.kernel))).toBe(true);
        const x = randomArray(
          graph.nodes[0]!.shape.reduce((a, b) => a * b, 1),
          60 + turn,
        );
        const session = await createSession({ plan, weights: { random: 70 }, device });
        try {
          const out = await session.run(x);
          const weights = new Map([...session.tensors].map(([k, v]) => [k, v.data!]));
          const expected = runReference(graph, x, weights).get(graph.nodes.at(-1)!.id)!;
          expect(relL2(out.logits, expected.data)).toBeLessThan(1e-5);
        } finally {
          session.destroy();
        }
      }
    });

  // llvmpipe has no shader-f16: these need it among the adapters under test (CI does).
  const llvmpipe = backends.includes("opengles");
  it.runIf(llvmpipe)(
    "csnc run and csnc tune --precision f16 on a CPU adapter: a clear error, exit 1, no stack",
    async () => {
      const mini = path.resolve(import.meta.dirname, "../models/ir-csn-mini.csn");
      const tuned = await run(
        "tune",
        mini,
        "--precision",
        "f16",
        "--backend",
        "opengles",
        "--no-cache",
      );
      expect(tuned.code).toBe(1);
      expect(tuned.err).toMatch(/shader-f16 feature.*\[CSN4106\]/);
      const r = await run("run", mini, "--precision", "f16", "--backend", "opengles");
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/shader-f16 feature.*\[CSN4106\]/);
      expect(r.err).not.toMatch(/\n\s+at /);
    },
  );

  it("an unknown precision from JavaScript is an error, not halves", async () => {
    const { device } = await gpuDevice(backends[0]!);
    const graph = buildGraph("model m() { input 8x2x4x4  conv(16, 1x1x1) relu }");
    await expect(
      createSession({ graph, precision: "fp16" as "f16", weights: { random: 1 }, device }),
    ).rejects.toThrow(/precision must be one of f32, f16-storage, f16, got 'fp16'/);
  });

  it.runIf(llvmpipe)(
    "is refused by an adapter without shader-f16, pointing to f16 storage",
    async () => {
      const { device } = await gpuDevice("opengles");
      const graph = buildGraph("model m() { input 8x2x4x4  conv(16, 1x1x1) relu }");
      await expect(
        createSession({ graph, precision: "f16", weights: { random: 1 }, device }),
      ).rejects.toThrow(
        /--precision f16 needs an adapter with the shader-f16 feature.*f16-storage/,
      );
    },
  );
});

// Real half arithmetic needs shader-f16, which neither CPU adapter has: these run only where
// CSNC_TEST_BACKENDS names hardware (bench/gpu.ts, on a lent GPU), and fail there if the
// adapter lacks the feature. Budgets: a product of two halves rounds once more than f16
// storage's operands do, so twice its ops budget; the fixtures' logits as f16 storage's.
for (const backend of await hardwareBackends())
  describe(`--precision f16 on ${backend}, in real halves`, () => {
    it("offers shader-f16", async () => {
      const { device } = await gpuDevice(backend);
      expect(device.features.has("shader-f16")).toBe(true);
    });

    it("every kernel family within a few half roundings of the float64 reference", async () => {
      for (const [i, [input, body, batch, tuning]] of arithmeticCases.entries()) {
        const graph = buildGraph(`model m() { input ${input}  ${body} }`, { batch });
        const r = await differential(backend, graph, { tuning, precision: "f16", seed: 30 + i });
        expect(r.error, body).toBeLessThan(16 * 2 ** -11);
      }
    });

    for (const c of [...modelCases(), ...batch1T1Cases()])
      it(`${c.name}: logits within 1e-2 of PyTorch's, the same top-1`, () =>
        expectFixture(backend, c, "f16"));
  });
