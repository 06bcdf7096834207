// Executes a plan on a GPUDevice: buffers, weights, pipelines and bind groups are made once
// (executor/resources.ts); each inference is one command encoder and one submit (executor/
// encode.ts) that also copies the clip in from a staging ring and the logits and probabilities
// out, so a steady-state run allocates nothing on the GPU.
import type { Plan } from "../compiler/plan.js";
import { guarded } from "./device.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import { planEncoder } from "./executor/encode.js";
import { MapMode } from "./executor/gpu-flags.js";
import { clipUpload } from "./executor/clip-upload.js";
import { framesUpload, isClipFrames, type ClipFrames } from "./executor/frames-upload.js";
import { toChannelsFirst } from "./executor/host-layout.js";
import { stagingRing } from "./executor/staging-ring.js";
import { timeDispatches, type DispatchTimes } from "./executor/profile.js";
import {
  align,
  createBindGroups,
  createPipelines,
  createResources,
  destroyResources,
} from "./executor/resources.js";

export type { ClipFrames, DispatchTimes };

/** A clip as floats (N x C x T x H x W, channels-first), or as decoded frames. */
export type ClipInput = Float32Array | ClipFrames;

export interface Outputs {
  /** N x classes, row-major. */
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
}

export interface Executor {
  readonly plan: Plan;
  /** Milliseconds spent creating buffers and uploading weights, and compiling pipelines. */
  readonly setup: { readonly buffersMs: number; readonly pipelinesMs: number };
  /** Runs one inference on an N x C x T x H x W float32 input, or on frames (see ClipFrames). */
  run(input: ClipInput): Promise<Outputs>;
  /**
   * Runs every input in order, pipelined (see runMany below); `each` sees each clip's outputs
   * as they arrive, with its index.
   */
  runMany(
    inputs: Iterable<ClipInput> | AsyncIterable<ClipInput>,
    each?: (outputs: Outputs, index: number) => void,
  ): Promise<Outputs[]>;
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
  const logitsTensor = tensor.get(plan.logits.tensor)!;
  const probsTensor = tensor.get(plan.probabilities.tensor)!;
  const expected = plan.input.shape.reduce((a, b) => a * b, 1);
  const upload = clipUpload(plan, r);
  const half = align(logitsTensor.bytes);
  const [uploads, readbacks] = await guarded(device, "allocating staging buffers", () => [
    stagingRing(device, "upload", upload.bytes, 2),
    stagingRing(device, "readback", 2 * half, 2),
  ]);

  const lostError = (during: string) =>
    new CsncError(RuntimeCodes.deviceLost, `the GPU device was lost${during}: ${lostMessage()}`);

  /** The logits and probabilities of a finished run, read back from `rb`. */
  const readOut = async (rb: GPUBuffer): Promise<Outputs> => {
    try {
      await rb.mapAsync(MapMode.READ);
    } catch (e) {
      // The buffer cannot be read again: waits for one fail instead of hanging.
      const error = lostMessage() ? lostError(" during the run") : e;
      readbacks.fail(error);
      throw error;
    }
    const all = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    readbacks.release(rb);
    const n = logitsTensor.bytes / 4;
    const shape = logitsTensor.shape;
    return {
      logits: toChannelsFirst(all.slice(0, n), shape),
      probabilities: toChannelsFirst(all.slice(half / 4, half / 4 + n), shape),
    };
  };

  const frames = framesUpload(device, plan, r);

  /** Stages `input` in the layout its readers expect; what to record and to recycle after. */
  const stage = async (input: ClipInput) => {
    if (isClipFrames(input)) {
      const staging = await frames.prepare(input);
      return {
        encode: (c: GPUCommandEncoder) => frames.encode(c, staging),
        recycle: () => frames.recycle(staging),
      };
    }
    const staging = await uploads.acquire();
    upload.write(uploads.range(staging), input);
    staging.unmap();
    return {
      encode: (c: GPUCommandEncoder) => upload.encode(c, staging),
      recycle: () => uploads.recycle(staging),
    };
  };

  /** Uploads `input` through a staging ring and submits its run; the outputs come later. */
  const submitNow = async (input: ClipInput): Promise<{ outputs: Promise<Outputs> }> => {
    if (!isClipFrames(input)) {
      // A Uint8Array of the clip's length would pass a length check and run as garbage.
      if (!(input instanceof Float32Array))
        throw new CsncError(
          RuntimeCodes.badInput,
          "a clip is a Float32Array (N x C x T x H x W) or { frames, mean, std } (uint8 frames)",
        );
      if (input.length !== expected)
        throw new CsncError(
          RuntimeCodes.badInput,
          `the input has ${input.length} values; the model was compiled for ${plan.input.shape.join("x")} (${expected})`,
        );
    }
    if (lostMessage()) throw lostError("");
    const clip = await stage(input).catch((e: unknown) => {
      throw lostMessage() ? lostError("") : e;
    });
    const rb = await readbacks.acquire();
    try {
      await guarded(device, "running the model", () => {
        const commands = device.createCommandEncoder();
        clip.encode(commands);
        encoder.encodeAll(commands);
        commands.copyBufferToBuffer(r.buffers[logitsTensor.buffer]!, 0, rb, 0, logitsTensor.bytes);
        commands.copyBufferToBuffer(r.buffers[probsTensor.buffer]!, 0, rb, half, probsTensor.bytes);
        device.queue.submit([commands.finish()]);
      });
    } catch (e) {
      // Nothing was submitted (or it was refused): both buffers go back to their rings.
      clip.recycle();
      readbacks.release(rb);
      throw e;
    }
    clip.recycle();
    const outputs = readOut(rb);
    // Handled here, awaited later: a failure while other clips are submitted is not "unhandled".
    outputs.catch(() => undefined);
    // Wrapped: awaiting the submit must not await the readback too.
    return { outputs };
  };

  // Submits run one at a time, in call order, also when callers overlap (concurrent `run`s): a
  // frames clip's normalisation is written just before its submit and must not be overtaken.
  let queue: Promise<unknown> = Promise.resolve();
  const submit = (input: ClipInput) => {
    const next = queue.then(() => submitNow(input));
    queue = next.catch(() => undefined);
    return next;
  };

  /**
   * Runs every clip, two in flight: while the GPU computes clip k, the host writes clip k + 1
   * into a staging buffer and reads back clip k - 1's outputs.
   */
  const runMany: Executor["runMany"] = async (inputs, each) => {
    const results: Outputs[] = [];
    const inflight: { index: number; outputs: Promise<Outputs> }[] = [];
    const settle = async () => {
      const { index, outputs } = inflight.shift()!;
      const out = await outputs;
      results.push(out);
      each?.(out, index);
    };
    let index = 0;
    try {
      for await (const input of inputs) {
        inflight.push({ index: index++, outputs: (await submit(input)).outputs });
        if (inflight.length >= 2) await settle();
      }
      while (inflight.length) await settle();
    } catch (e) {
      // The clips submitted before a failure still reach `each`: a bad clip loses none before it.
      while (inflight.length) await settle().catch(() => undefined);
      throw e;
    }
    return results;
  };

  return {
    plan,
    setup: { buffersMs: t1 - t0, pipelinesMs: t2 - t1 },
    timeDispatches: () => timeDispatches(device, plan.dispatches.length, encoder),
    run: async (input) => (await runMany([input]))[0]!,
    runMany,
    destroy: () => {
      uploads.destroy();
      readbacks.destroy();
      frames.destroy();
      destroyResources(r);
    },
  };
}
