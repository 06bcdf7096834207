// Training on WebGPU against PyTorch: one SGD step of ir-CSN-50-w4 (test/fixtures/train, made
// with torch.optim.SGD) reproduced by the trainer on both CPU adapters, its loss, every
// gradient, the weights and running statistics after the step; then the loop's promises: a
// step with a non-finite loss changes nothing, and a resumed run is the uninterrupted one.
import { beforeAll, describe, expect, it } from "vitest";
import { buildTrainProgram } from "../compiler/train/build.js";
import type { TrainProgram } from "../compiler/train/program.js";
import { kernelLimits } from "../runtime/device.js";
import { startingTensors } from "../runtime/train/init.js";
import { trainLoop, type ClipSet } from "../runtime/train/loop.js";
import { synthClips } from "../runtime/train/synth.js";
import { createTrainer, type Trainer } from "../runtime/train/trainer.js";
import { gpuDevice, relL2 } from "./gpu.js";
import { trainReference } from "./reference/backward.js";
import { tinyGraph, trainFixture, unseenFixtures, type TrainFixture } from "./train-fixture.js";

// PyTorch and csnc both compute in float32; the fixture's res5 BNs see two values per channel,
// which amplifies rounding (test/train-reference.test.ts measures it): 1e-3 is the bound.
const tolerance = 1e-3;

let fixture: TrainFixture;
beforeAll(() => {
  fixture = trainFixture();
});

for (const backend of ["llvmpipe", "swiftshader"] as const)
  describe(`the PyTorch SGD step on ${backend}`, () => {
    it("gives PyTorch's loss, logits' class and every gradient, then its weights and running statistics", async () => {
      const { device } = await gpuDevice(backend);
      const program = buildTrainProgram(fixture.graph, {
        limits: kernelLimits(device),
        dropout: false,
      });
      const trainer = await createTrainer({ program, device, tensors: fixture.tensors });
      try {
        const batch = { input: fixture.input, labels: fixture.labels };
        const r = await trainer.step(batch, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
        expect(Math.abs(r.loss - fixture.loss) / fixture.loss).toBeLessThan(1e-5);
        const grads = await trainer.readGradients();
        expect(grads.size).toBe(fixture.grads.size);
        for (const [name, want] of fixture.grads)
          expect(relL2(grads.get(name)!, want), name).toBeLessThan(tolerance);
        const after = await trainer.readState();
        expect(after.tensors.size).toBe(fixture.after.size);
        for (const [name, want] of fixture.after)
          expect(relL2(after.tensors.get(name)!, want), name).toBeLessThan(tolerance);
      } finally {
        trainer.destroy();
      }
    });
  });

// Networks the maintainers' fixture does not cover, one SGD step each by PyTorch
// (test/fixtures/train-unseen/make.py, which first reproduces the maintainers' step).
describe.each(unseenFixtures())("the PyTorch SGD step of $name on llvmpipe", (f) => {
  it("gives PyTorch's loss, every gradient, the weights and running statistics after it", async () => {
    const { device } = await gpuDevice("llvmpipe");
    const program = buildTrainProgram(f.graph, { limits: kernelLimits(device), dropout: false });
    const trainer = await createTrainer({ program, device, tensors: f.tensors });
    try {
      const r = await trainer.step(
        { input: f.input, labels: f.labels },
        { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
      );
      expect(Math.abs(r.loss - f.loss) / f.loss).toBeLessThan(1e-5);
      const grads = await trainer.readGradients();
      expect(grads.size).toBe(f.grads.size);
      for (const [name, want] of f.grads)
        expect(relL2(grads.get(name)!, want), name).toBeLessThan(tolerance);
      const after = await trainer.readState();
      expect(after.tensors.size).toBe(f.after.size);
      for (const [name, want] of f.after)
        expect(relL2(after.tensors.get(name)!, want), name).toBeLessThan(tolerance);
    } finally {
      trainer.destroy();
    }
  });
});

describe("the training loop", () => {
  const data = synthClips({ classes: 4, clips: 32, frames: 4, size: 16, seed: 3 });
  const set: ClipSet = { input: data.input, labels: data.labels, count: 32 };

  async function open(
    batch = 8,
  ): Promise<{ program: TrainProgram; trainer: Trainer; device: GPUDevice }> {
    const { device } = await gpuDevice("llvmpipe");
    const graph = tinyGraph(batch);
    const program = buildTrainProgram(graph, { limits: kernelLimits(device) });
    const { tensors } = startingTensors(program, 7);
    return { program, device, trainer: await createTrainer({ program, device, tensors }) };
  }
  const recipe = (trainer: Trainer, o: { startStep?: number; stop?: () => boolean } = {}) =>
    trainLoop({
      trainer,
      train: async () => set,
      schedule: { lr: 0.05, schedule: "cosine", totalSteps: 12, warmup: 2 },
      momentum: 0.9,
      weightDecay: 1e-4,
      seed: 5,
      stepsPerEpoch: 4,
      ...o,
    });

  it("resumes from a checkpoint to exactly the uninterrupted run's weights", async () => {
    const straight = await open();
    expect((await recipe(straight.trainer)).status).toBe("done");
    const want = await straight.trainer.readState();
    straight.trainer.destroy();

    const first = await open();
    let steps = 0;
    const end = await recipe(first.trainer, { stop: () => ++steps >= 5 });
    expect(end).toEqual({ status: "stopped", steps: 5 });
    const saved = await first.trainer.readState();
    first.trainer.destroy();
    const second = await createTrainer({
      program: first.program,
      device: first.device,
      tensors: saved.tensors,
      momentum: saved.momentum,
    });
    expect((await recipe(second, { startStep: 5 })).status).toBe("done");
    const got = await second.readState();
    second.destroy();
    for (const [name, w] of want.tensors) expect(got.tensors.get(name), name).toEqual(w);
    for (const [name, m] of want.momentum) expect(got.momentum.get(name), name).toEqual(m);
  });

  it.each([
    ["logits overflow (the loss is NaN)", "fc"],
    ["a NaN clip (ReLU's max drops it: the loss is finite, gradients are not)", "clip"],
  ])("changes nothing on a step with %s", async (_, what) => {
    const { device } = await gpuDevice("llvmpipe");
    const program = buildTrainProgram(tinyGraph(8), { limits: kernelLimits(device) });
    const { tensors } = startingTensors(program, 7);
    const fc = program.params.find((p) => p.shape.length === 2)!;
    if (what === "fc")
      tensors.set(fc.name, new Float32Array(tensors.get(fc.name)!.length).fill(3e38));
    const trainer = await createTrainer({ program, device, tensors });
    try {
      const before = await trainer.readState();
      const input = set.input.slice(0, set.input.length / 4);
      if (what === "clip") input.fill(NaN, 0, 100);
      const r = await trainer.step(
        { input, labels: [0, 1, 2, 3, 0, 1, 2, 3] },
        { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
      );
      expect(r.finite).toBe(false);
      const after = await trainer.readState();
      for (const [name, w] of before.tensors) expect(after.tensors.get(name), name).toEqual(w);
      for (const [name, m] of before.momentum) expect(after.momentum.get(name), name).toEqual(m);
    } finally {
      trainer.destroy();
    }
  });

  it("lowers the loss of a tiny model on the motion task", async () => {
    const { trainer } = await open();
    const losses: number[] = [];
    try {
      await trainLoop({
        trainer,
        train: async () => set,
        schedule: { lr: 0.05, schedule: "const", totalSteps: 40, warmup: 0 },
        momentum: 0.9,
        weightDecay: 1e-4,
        seed: 1,
        stepsPerEpoch: 4,
        onEpoch: (e) => void losses.push(e.loss),
      });
    } finally {
      trainer.destroy();
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(0.8 * mean(losses.slice(0, 3)));
  });

  it("keeps frozen layers fixed and plans no backward before them", async () => {
    const { device } = await gpuDevice("llvmpipe");
    const graph = tinyGraph(8);
    const program = buildTrainProgram(graph, {
      limits: kernelLimits(device),
      freeze: ["stem", "res2"],
    });
    expect(
      program.steps.some((s) => s.phase === "backward" && /^(stem|res2)\b/.test(s.layer)),
    ).toBe(false);
    const { tensors } = startingTensors(program, 7);
    const trainer = await createTrainer({ program, device, tensors });
    try {
      await trainer.step(
        { input: set.input.slice(0, set.input.length / 4), labels: [0, 1, 2, 3, 0, 1, 2, 3] },
        { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
      );
      const after = await trainer.readState();
      for (const p of program.params) {
        const same = after.tensors.get(p.name)!.every((v, i) => v === tensors.get(p.name)![i]);
        expect(same, p.name).toBe(p.frozen);
      }
      // A frozen BN no gradient passes through normalises with its running statistics and keeps them.
      for (const r of program.running) {
        const frozen = /^(stem|res2)\b/.test(r.layer);
        for (const k of ["running_mean", "running_var"]) {
          const name = `${r.layer}.${k}`;
          const same = after.tensors.get(name)!.every((v, i) => v === tensors.get(name)![i]);
          expect(same, name).toBe(frozen);
        }
      }
    } finally {
      trainer.destroy();
    }
    expect(() =>
      buildTrainProgram(graph, { limits: kernelLimits(device), freeze: ["res9"] }),
    ).toThrow(/no layer res9/);
  });
});

// The dropout mask of compiler/train/kernels/elementwise.ts (keepWgsl), in u32 arithmetic: the
// reference then checks that training-mode dropout scales and routes values and gradients.
function dropoutKeep(seed: number, step: number, p: number) {
  return (layer: number, i: number) => {
    const salt = Math.imul(layer + 1, 0x27d4eb2d) >>> 0;
    let h =
      (Math.imul(i, 0x9e3779b9) ^
        Math.imul(seed, 0x85ebca6b) ^
        Math.imul(step, 0xc2b2ae35) ^
        salt) >>>
      0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    return h >= Math.min(4294967295, Math.round(p * 4294967296));
  };
}

it("drops out in training mode as the reference does, gradients included", async () => {
  const { device } = await gpuDevice("llvmpipe");
  const graph = tinyGraph(4);
  const program = buildTrainProgram(graph, { limits: kernelLimits(device) });
  const { tensors } = startingTensors(program, 3);
  const trainer = await createTrainer({ program, device, tensors });
  try {
    const data = synthClips({ classes: 4, clips: 4, frames: 4, size: 16, seed: 9 });
    const labels = Array.from(data.labels);
    const r = await trainer.gradients({ input: data.input, labels }, { seed: 11, step: 7 });
    const ref = trainReference(
      graph,
      data.input,
      labels,
      tensors,
      new Set(),
      dropoutKeep(11, 7, 0.2),
    );
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    for (const [name, g] of ref.grads)
      expect(relL2(r.grads.get(name)!, g), name).toBeLessThan(1e-4);
    // Not the identity: without the mask the reference's loss differs.
    expect(
      Math.abs(trainReference(graph, data.input, labels, tensors).loss - ref.loss),
    ).toBeGreaterThan(1e-4);
  } finally {
    trainer.destroy();
  }
});

it("reports a lost device as such", async () => {
  const { acquireAdapter } = await import("../runtime/adapter-node.js");
  const { requestDevice } = await import("../runtime/device.js");
  const device = await requestDevice((await acquireAdapter("llvmpipe")).adapter);
  const program = buildTrainProgram(tinyGraph(2), { limits: kernelLimits(device) });
  const trainer = await createTrainer({
    program,
    device,
    tensors: startingTensors(program, 1).tensors,
  });
  device.destroy();
  await expect(
    trainer.step(
      { input: new Float32Array(2 * 3 * 4 * 16 * 16), labels: [0, 1] },
      { lr: 0.1, momentum: 0.9, weightDecay: 0 },
    ),
  ).rejects.toThrow(/GPU device was lost while training/);
});
