// Executes a plan on a GPUDevice: buffers, weights, pipelines and bind groups are made once
// (executor/resources.ts); each inference is one command encoder, one compute pass and one
// submit (executor/encode.ts), and reads back only the logits and probabilities.
import { clipTexels } from "../compiler/kernels/texture.js";
import type { Plan } from "../compiler/plan.js";
import { guarded } from "./device.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import { planEncoder } from "./executor/encode.js";
import { MapMode } from "./executor/gpu-flags.js";
import { toChannelsFirst, toChannelsLast } from "./executor/host-layout.js";
import { timeDispatches, type DispatchTimes } from "./executor/profile.js";
import {
  createBindGroups,
  createPipelines,
  createResources,
  destroyResources,
} from "./executor/resources.js";

export type { DispatchTimes };

export interface Outputs {
  /** N x classes, row-major. */
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
}

export interface Executor {
  readonly plan: Plan;
  /** Milliseconds spent creating buffers and uploading weights, and compiling pipelines. */
  readonly setup: { readonly buffersMs: number; readonly pipelinesMs: number };
  /** Runs one inference on an N x C x T x H x W float32 input. */
  run(input: Float32Array): Promise<Outputs>;
  /** A separate profiling run: each dispatch timed on its own (after an ordinary run has set the input). */
  timeDispatches(): Promise<DispatchTimes>;
  destroy(): void;
}

export async function createExecutor(
  device: GPUDevice,
  plan: Plan,
  weights: readonly Float32Array[],
): Promise<Executor> {
  const state: { lost?: GPUDeviceLostInfo } = {};
  void device.lost.then((info) => (state.lost = info));
  // A function, so TypeScript does not assume the value is unchanged across awaits.
  const lostMessage = () => (state.lost ? state.lost.message || state.lost.reason : undefined);

  const t0 = performance.now();
  const r = await createResources(device, plan, weights);
  await device.queue.onSubmittedWorkDone();
  const t1 = performance.now();
  const pipelines = await createPipelines(device, plan);
  const t2 = performance.now();
  const encoder = planEncoder(
    plan,
    r,
    pipelines,
    await createBindGroups(device, plan, r, pipelines),
  );

  const tensor = new Map(plan.tensors.map((t) => [t.id, t]));
  const inputTensor = tensor.get(plan.input.tensor)!;
  const logitsTensor = tensor.get(plan.logits.tensor)!;
  const probsTensor = tensor.get(plan.probabilities.tensor)!;
  const expected = plan.input.shape.reduce((a, b) => a * b, 1);
  const half = r.readback.size / 2;

  /** Queues the clip's upload in the layout its readers expect. */
  const upload = (input: Float32Array) => {
    if (plan.input.layout === "texture") {
      const t = plan.textures[plan.input.texture!]!;
      device.queue.writeTexture(
        { texture: r.textures[t.id]! },
        clipTexels(input, plan.input.shape, t),
        { bytesPerRow: 16 * t.width, rowsPerImage: t.height },
        [t.width, t.height],
      );
    } else {
      device.queue.writeBuffer(
        r.buffers[inputTensor.buffer]!,
        0,
        plan.input.layout === "ncthw"
          ? (input as Float32Array<ArrayBuffer>)
          : toChannelsLast(input, plan.input.shape),
      );
    }
  };

  return {
    plan,
    setup: { buffersMs: t1 - t0, pipelinesMs: t2 - t1 },
    timeDispatches: () => timeDispatches(device, plan.dispatches.length, encoder),
    async run(input) {
      if (input.length !== expected) {
        throw new CsncError(
          RuntimeCodes.badInput,
          `the input has ${input.length} values; the model was compiled for ${plan.input.shape.join("x")} (${expected})`,
        );
      }
      if (lostMessage())
        throw new CsncError(RuntimeCodes.deviceLost, `the GPU device was lost: ${lostMessage()}`);
      await guarded(device, "running the model", () => {
        upload(input);
        const commands = device.createCommandEncoder();
        encoder.encodeAll(commands);
        const logits = r.buffers[logitsTensor.buffer]!;
        commands.copyBufferToBuffer(logits, 0, r.readback, 0, logitsTensor.bytes);
        const probs = r.buffers[probsTensor.buffer]!;
        commands.copyBufferToBuffer(probs, 0, r.readback, half, probsTensor.bytes);
        device.queue.submit([commands.finish()]);
      });
      try {
        await r.readback.mapAsync(MapMode.READ);
      } catch (e) {
        if (lostMessage())
          throw new CsncError(
            RuntimeCodes.deviceLost,
            `the GPU device was lost during the run: ${lostMessage()}`,
          );
        throw e;
      }
      const all = new Float32Array(r.readback.getMappedRange().slice(0));
      r.readback.unmap();
      const n = logitsTensor.bytes / 4;
      const shape = logitsTensor.shape;
      return {
        logits: toChannelsFirst(all.slice(0, n), shape),
        probabilities: toChannelsFirst(all.slice(half / 4, half / 4 + n), shape),
      };
    },
    destroy: () => destroyResources(r),
  };
}
