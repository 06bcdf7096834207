// The lean host path: a steady-state run allocates nothing on the GPU (no buffer, texture, bind
// group or pipeline, and no writeBuffer/writeTexture, which stage through a fresh allocation in
// Dawn), and runMany's pipelined results are each clip's own, equal to the float64 reference.
// On both CPU adapters: llvmpipe uploads the clip as a texture, SwiftShader as a buffer.
import { describe, expect, it } from "vitest";
import { defaultTuning } from "../compiler/kernels/tuning.js";
import type { Backend } from "../runtime/adapter-node.js";
import { createSession, type Outputs } from "../runtime/session.js";
import { buildGraph, gpuDevice, randomArray, relL2 } from "./gpu.js";
import { runReference } from "./reference/executor.js";

const backends: [Backend, "llvmpipe" | "swiftshader", string][] = [
  ["opengles", "llvmpipe", "texture"],
  ["swiftshader", "swiftshader", "ncthw"],
];

/** Calls of every device and queue method that makes or fills a GPU object. */
const counted = [
  "createBuffer",
  "createTexture",
  "createBindGroup",
  "createShaderModule",
  "createComputePipeline",
  "createComputePipelineAsync",
  "createQuerySet",
  "writeBuffer",
  "writeTexture",
];

/** `device` with a count of the calls above (the queue's included). */
function countingDevice(device: GPUDevice) {
  const calls = new Map<string, number>();
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, name) {
        const value = Reflect.get(t, name, t) as unknown;
        if (name === "queue") return wrap(value as GPUQueue);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (counted.includes(String(name)))
            calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  return { device: wrap(device), calls };
}

// A stem on the clip (texture or channels-first buffer), a block of 1x1x1 and depthwise convs
// with a residual, and the head: every host step of a real model.
const model = `
model m {
  input 3 x 4 x 16 x 16
  conv(16, 3x3x3, stride = 1x2x2) bn relu
  residual { conv(8, 1x1x1) bn relu dwconv(3x3x3) bn relu conv(16, 1x1x1) bn }
  relu avgpool fc(10)
}`;

describe.each(backends)("the host path on %s", (backend, adapterClass, clipLayout) => {
  it.each(["f32", "f16-storage"] as const)(
    "allocates nothing in a steady-state run, and runMany returns each clip's outputs (%s)",
    async (precision) => {
      const graph = buildGraph(model, { batch: 2 });
      const { device: real } = await gpuDevice(backend);
      const { device, calls } = countingDevice(real);
      const session = await createSession({
        graph,
        tuning: defaultTuning[adapterClass],
        weights: { random: 3 },
        device,
        precision,
      });
      try {
        expect(session.plan.input.layout).toBe(clipLayout);
        const n = graph.nodes[0]!.shape.reduce((a, b) => a * b, 1);
        const clips = [0, 1, 2, 3, 4].map((i) => randomArray(n, 100 + i));
        const single: Outputs[] = [];
        for (const clip of clips.slice(0, 2)) single.push(await session.run(clip)); // warm-up
        calls.clear();
        for (const clip of clips.slice(2)) single.push(await session.run(clip));
        const seen: number[] = [];
        const many = await session.runMany(
          (async function* () {
            yield* clips;
          })(),
          (_, i) => seen.push(i),
        );
        expect(Object.fromEntries(calls)).toEqual({});
        expect(seen).toEqual([0, 1, 2, 3, 4]);
        const weights = new Map([...session.tensors].map(([k, v]) => [k, v.data!]));
        const last = graph.nodes.at(-1)!;
        clips.forEach((clip, i) => {
          const ref = runReference(graph, clip, weights);
          const expected = ref.get(last.op.kind === "softmax" ? last.inputs[0]! : last.id)!.data;
          expect(relL2(many[i]!.logits, expected)).toBeLessThan(precision === "f32" ? 1e-4 : 4e-3);
          expect(many[i]!.logits).toEqual(single[i]!.logits);
        });
      } finally {
        session.destroy();
      }
    },
  );

  const pointwiseFirst = model.replace("conv(16, 3x3x3, stride = 1x2x2)", "conv(16, 1x1x1)");
  it.each([
    [clipLayout, model, "f32"],
    ["nthwc", pointwiseFirst, "f32"],
    // Halves: the frames kernel writes whole u32s (two values, or half a texel).
    [clipLayout, model, "f16-storage"],
    ["nthwc", pointwiseFirst, "f16-storage"],
  ] as const)(
    "normalises uint8 frames on the GPU to the float path's numbers (%s clip, %s)",
    async (layout, source, precision) => {
      const graph = buildGraph(source, { batch: 2 });
      const { device: real } = await gpuDevice(backend);
      const { device, calls } = countingDevice(real);
      const session = await createSession({
        graph,
        tuning: defaultTuning[adapterClass],
        weights: { random: 5 },
        device,
        precision,
      });
      try {
        expect(session.plan.input.layout).toBe(layout);
        expect(session.plan.precision).toBe(precision);
        const [n, c, t, h, w] = graph.nodes[0]!.shape as [number, number, number, number, number];
        const { mean, std } = {
          mean: [110.201, 100.64, 95.997],
          std: [58.149, 56.47, 55.332],
        } as const;
        const framesOf = (seed: number) =>
          Uint8Array.from(randomArray(n * t * h * w * 3, seed), (x) =>
            Math.floor((x + 1) * 127.99),
          );
        // The float path: the host normalises N x T x H x W x 3 bytes into N x 3 x T x H x W.
        const floats = (bytes: Uint8Array) => {
          const out = new Float32Array(n * c * t * h * w);
          for (let i = 0; i < n; i++)
            for (let ch = 0; ch < 3; ch++)
              for (let p = 0; p < t * h * w; p++)
                out[(i * 3 + ch) * t * h * w + p] =
                  (bytes[(i * t * h * w + p) * 3 + ch]! - mean[ch]) / std[ch];
          return out;
        };
        const clips = [11, 12, 13].map(framesOf);
        const first = await session.run({ frames: clips[0]!, mean, std });
        calls.clear();
        const rest = await session.runMany(clips.slice(1).map((frames) => ({ frames, mean, std })));
        expect(Object.fromEntries(calls)).toEqual({});
        for (const [i, out] of [first, ...rest].entries()) {
          const expected = await session.run(floats(clips[i]!));
          // Halves: the GPU's pack2x16float and the host's conversion may round a tie apart.
          const tolerance = precision === "f32" ? 1e-5 : 2e-3;
          expect(relL2(out.logits, expected.logits)).toBeLessThan(tolerance);
        }
        await expect(session.run({ frames: new Uint8Array(7), mean, std })).rejects.toThrow(
          /the frames hold 7 bytes; the model's clip 2x3x4x16x16 takes 6144/,
        );
      } finally {
        session.destroy();
      }
    },
  );

  it("recovers from failed submits, and keeps concurrent runs' normalisations apart", async () => {
    const graph = buildGraph(model);
    const { device: real } = await gpuDevice(backend);
    let failures = 2;
    // The queue's submit throws twice, as a refused submit would.
    const device = new Proxy(real, {
      get(t, name) {
        const value = Reflect.get(t, name, t) as unknown;
        if (name !== "queue") return typeof value === "function" ? value.bind(t) : value;
        const queue = value as GPUQueue;
        return new Proxy(queue, {
          get(q, key) {
            const v = Reflect.get(q, key, q) as unknown;
            if (key === "submit")
              return (b: GPUCommandBuffer[]) => {
                if (failures-- > 0) throw new Error("injected submit failure");
                return queue.submit(b);
              };
            return typeof v === "function" ? v.bind(q) : v;
          },
        });
      },
    });
    const session = await createSession({ graph, weights: { random: 3 }, device });
    try {
      const [, c, t, h, w] = graph.nodes[0]!.shape as [number, number, number, number, number];
      const n = c * t * h * w;
      for (let i = 0; i < 2; i++)
        await expect(session.run(randomArray(n, 1))).rejects.toThrow(/injected submit failure/);
      const ok = await session.run(randomArray(n, 1));
      expect(ok.logits.length).toBe(10);
      // Two frames clips with different normalisations, in flight together.
      const bytes = (seed: number) =>
        Uint8Array.from(randomArray(t * h * w * 3, seed), (x) => Math.floor((x + 1) * 127.99));
      const a = { frames: bytes(1), mean: [100, 90, 80], std: [50, 40, 30] } as const;
      const b = { frames: bytes(2), mean: [10, 20, 30], std: [5, 6, 7] } as const;
      const [ra, rb] = await Promise.all([session.run(a), session.run(b)]);
      const [sa, sb] = [await session.run(a), await session.run(b)];
      expect(ra.logits).toEqual(sa.logits);
      expect(rb.logits).toEqual(sb.logits);
      expect(ra.logits).not.toEqual(rb.logits);
      await expect(session.run(new Uint8Array(n) as unknown as Float32Array)).rejects.toThrow(
        /a clip is a Float32Array/,
      );
    } finally {
      session.destroy();
    }
  });

  it("reports a wrong-sized clip in runMany without losing the clips before it", async () => {
    const graph = buildGraph(model);
    const { device } = await gpuDevice(backend);
    const session = await createSession({ graph, weights: { random: 3 }, device });
    try {
      const n = graph.nodes[0]!.shape.reduce((a, b) => a * b, 1);
      const seen: number[] = [];
      await expect(
        session.runMany([randomArray(n, 1), new Float32Array(5)], (_, i) => seen.push(i)),
      ).rejects.toThrow(/the input has 5 values/);
      expect(seen).toEqual([0]);
      // The session still runs after the failure.
      expect((await session.run(randomArray(n, 2))).logits.length).toBe(10);
    } finally {
      session.destroy();
    }
  });
});
