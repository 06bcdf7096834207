// `--precision f16-storage`: activations and weights stored as halves, arithmetic in float32.
// The host's half conversions against IEEE 754's; the memory plan halves; and the error budget
// (compiler/kernels/format.ts) on every PyTorch fixture, on both CPU adapters: logits within
// 1e-2 relative of PyTorch's with the same top-1 class, ops within a few half roundings.
import { describe, expect, it } from "vitest";
import { compileGraph } from "../compiler/compile.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { fromHalf, roundToHalf, toHalf, toHalves } from "../compiler/kernels/format.js";
import { defaultTuning } from "../compiler/kernels/tuning.js";
import type { Backend } from "../runtime/adapter-node.js";
import { batch1T1Cases, modelCases, opCases } from "./fixtures.js";
import { buildGraph, relL2, runGpu } from "./gpu.js";
import { shippedModel } from "./helpers.js";

const backends: Backend[] = ["swiftshader", "opengles"];

/** The class of the largest logit of each of `n` samples. */
function top1(logits: Float32Array, n: number): number[] {
  const k = logits.length / n;
  return [...Array(n).keys()].map((i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    return best;
  });
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
      it(`${c.name}: logits within 1e-2, the same top-1`, async () => {
        const [n, ...chw] = c.input.shape;
        const graph = shippedModel(c.model, c.set, chw, n!);
        for (const textures of [false, true]) {
          const out = await runGpu(backend, graph, c.input.data!, c.weights, {
            naming: "vmz",
            tuning: { textures },
            precision: "f16-storage",
          });
          expect(out.plan.tensors.filter((t) => t.format === "f16").length).toBeGreaterThan(10);
          expect(relL2(out.logits, c.logits.data!)).toBeLessThan(1e-2);
          expect(top1(out.logits, n!)).toEqual(top1(c.logits.data!, n!));
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
