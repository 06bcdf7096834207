// Runs a TrainProgram on a GPUDevice: one buffer per planned slot, pipelines and bind groups
// made once, then per call only the clip, the labels and the hyper-parameters are written.
// `step` trains (forward, loss, backward, SGD), `gradients` stops before the update,
// `evaluate` runs the forward pass with the running statistics.
import {
  hyperBytes,
  hyperFields,
  type TrainPhase,
  type TrainProgram,
} from "../../compiler/train/program.js";
import { guarded } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";

export interface TrainBatch {
  /** [N, C, T, H, W] of the program's clip shape. */
  readonly input: Float32Array;
  /** N class indices, each below the program's class count. */
  readonly labels: ArrayLike<number>;
}

export interface Hyper {
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Dropout masks are a function of (seed, step). */
  readonly seed?: number;
  readonly step?: number;
}

export interface StepResult {
  readonly loss: number;
  /** Predictions equal to the label (first maximum). */
  readonly correct: number;
  /**
   * The loss, every gradient and batch statistic were finite; a step that was not changed
   * nothing (parameters, momentum, running statistics).
   */
  readonly finite: boolean;
  readonly logits: Float32Array;
}

/** Parameters and running statistics under csnc names, and the SGD momentum buffers. */
export interface TrainState {
  readonly tensors: Map<string, Float32Array>;
  readonly momentum: Map<string, Float32Array>;
}

export interface Trainer {
  readonly program: TrainProgram;
  step(batch: TrainBatch, hyper: Hyper): Promise<StepResult>;
  /** Forward and backward in training mode (batch statistics); no update of parameters or running statistics. */
  gradients(
    batch: TrainBatch,
    hyper?: Partial<Hyper>,
  ): Promise<StepResult & { grads: Map<string, Float32Array> }>;
  /** The gradients the last step or gradients() computed, by parameter name. */
  readGradients(): Promise<Map<string, Float32Array>>;
  /** Logits in evaluation mode (running statistics, no dropout); `input` may hold fewer than N clips. */
  evaluate(input: Float32Array): Promise<Float32Array>;
  readState(): Promise<TrainState>;
  destroy(): void;
}

const runningNames = (layer: string) => [`${layer}.running_mean`, `${layer}.running_var`];

/** The tensors a program needs to start: every parameter and running statistic, csnc names. */
export function expectedTrainTensors(
  program: TrainProgram,
): { name: string; shape: readonly number[] }[] {
  return [
    ...program.params.map((p) => ({ name: p.name, shape: p.shape })),
    ...program.running.flatMap((r) =>
      runningNames(r.layer).map((name) => ({ name, shape: [r.channels] })),
    ),
  ];
}

export async function createTrainer(o: {
  readonly program: TrainProgram;
  readonly device: GPUDevice;
  /** Every tensor of expectedTrainTensors, csnc names. */
  readonly tensors: ReadonlyMap<string, Float32Array>;
  /** Momentum buffers to resume from (by parameter name); zero otherwise. */
  readonly momentum?: ReadonlyMap<string, Float32Array>;
}): Promise<Trainer> {
  const { program: p, device } = o;
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const largest = Math.max(...p.slots);
  if (largest > maxBinding || largest > device.limits.maxBufferSize)
    throw new CsncError(
      RuntimeCodes.tooLarge,
      `${p.model}: training needs a buffer of ${(largest / 2 ** 20).toFixed(1)} MiB, more than this adapter binds (${(maxBinding / 2 ** 20).toFixed(0)} MiB); use a smaller batch or clip`,
    );
  for (const t of expectedTrainTensors(p)) {
    const got = o.tensors.get(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!got || got.length !== n)
      throw new CsncError(
        RuntimeCodes.missingTensor,
        `${p.model}: ${got ? `tensor ${t.name} has ${got.length} elements; expected ${t.shape.join("x")}` : `missing tensor ${t.name}`}`,
      );
  }
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const slots = await guarded(device, "allocating the training buffers", () =>
    p.slots.map((bytes) =>
      device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage }),
    ),
  );
  const hyperBuffer = device.createBuffer({
    size: 4 * hyperFields.length,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const slotOf = (id: number) => slots[p.buffers[id]!.slot]!;
  const write = (id: number, data: ArrayBufferView) =>
    device.queue.writeBuffer(slotOf(id), 0, data.buffer, data.byteOffset, data.byteLength);
  try {
    await guarded(device, "uploading the weights", () => {
      for (const param of p.params) {
        write(param.buffer, o.tensors.get(param.name)!);
        if (param.momentum !== undefined) {
          const m = o.momentum?.get(param.name);
          write(
            param.momentum,
            m && m.length === param.shape.reduce((a, b) => a * b, 1)
              ? m
              : new Float32Array(p.buffers[param.momentum]!.elements),
          );
        }
      }
      for (const r of p.running) {
        const [mean, variance] = runningNames(r.layer).map((n) => o.tensors.get(n)!);
        const both = new Float32Array(2 * r.channels);
        both.set(mean!, 0);
        both.set(variance!, r.channels);
        write(r.buffer, both);
      }
    });
    const pipelines = new Map<string, Promise<GPUComputePipeline>>();
    const pipelineOf = (key: string, wgsl: string) => {
      let made = pipelines.get(key);
      if (!made) {
        made = device.createComputePipelineAsync({
          layout: "auto",
          compute: { module: device.createShaderModule({ code: wgsl }), entryPoint: "main" },
        });
        pipelines.set(key, made);
      }
      return made;
    };
    const compiled = await Promise.all(
      p.steps.map((s) =>
        pipelineOf(s.kernel.key, s.kernel.wgsl).catch((e: Error) => {
          throw new CsncError(
            RuntimeCodes.gpuError,
            `WebGPU rejected the ${s.kernel.name} kernel of ${s.layer}: ${e.message}`,
          );
        }),
      ),
    );
    const bindGroups = await guarded(device, "binding the training steps", () =>
      p.steps.map((s, i) =>
        device.createBindGroup({
          layout: compiled[i]!.getBindGroupLayout(0),
          entries: [
            ...s.buffers.map((id, binding) => ({
              binding,
              resource: { buffer: slotOf(id), size: 4 * p.buffers[id]!.elements },
            })),
            ...(s.kernel.hyper
              ? [{ binding: s.buffers.length, resource: { buffer: hyperBuffer } }]
              : []),
          ],
        }),
      ),
    );
    const readBytes = 4 * (3 + p.buffers[p.logits]!.elements);
    const readback = device.createBuffer({
      size: Math.ceil(readBytes / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });

    const encode = (encoder: GPUCommandEncoder, phases: ReadonlySet<TrainPhase>) => {
      const pass = encoder.beginComputePass();
      p.steps.forEach((s, i) => {
        if (!phases.has(s.phase)) return;
        pass.setPipeline(compiled[i]!);
        pass.setBindGroup(0, bindGroups[i]!);
        pass.dispatchWorkgroups(...s.kernel.dispatch);
      });
      pass.end();
    };
    const clipElements = p.buffers[p.input]!.elements;
    const upload = (batch: TrainBatch) => {
      if (batch.input.length !== clipElements)
        throw new CsncError(
          RuntimeCodes.badInput,
          `${p.model}: a training batch holds ${clipElements} values (${p.batch}x${p.clip.join("x")}); got ${batch.input.length}`,
        );
      const labels = Uint32Array.from(batch.labels, (l, i) => {
        if (!Number.isInteger(l) || l < 0 || l >= p.classes)
          throw new CsncError(
            RuntimeCodes.badInput,
            `${p.model}: label ${l} of clip ${i} is not a class index from 0 to ${p.classes - 1}`,
          );
        return l;
      });
      if (labels.length !== p.batch)
        throw new CsncError(
          RuntimeCodes.badInput,
          `${p.model}: ${labels.length} labels for a batch of ${p.batch}`,
        );
      write(p.input, batch.input);
      write(p.labels, labels);
    };
    const setHyper = (h: Partial<Hyper>, train: boolean) =>
      device.queue.writeBuffer(
        hyperBuffer,
        0,
        hyperBytes({
          lr: h.lr ?? 0,
          momentum: h.momentum ?? 0,
          weightDecay: h.weightDecay ?? 0,
          train: train ? 1 : 0,
          seed: h.seed ?? 0,
          step: h.step ?? 0,
        }),
      );
    let queue = Promise.resolve();
    // Every call runs after the previous one; a lost device fails each with what Dawn said.
    const lost: { info?: GPUDeviceLostInfo } = {};
    void device.lost.then((info) => (lost.info = info));
    const lostError = () =>
      new CsncError(
        RuntimeCodes.deviceLost,
        `the GPU device was lost while training ${p.model}: ${lost.info!.message || lost.info!.reason}`,
      );
    const serial = <T>(f: () => Promise<T>): Promise<T> => {
      const next = queue.then(async () => {
        if (lost.info) throw lostError();
        try {
          return await f();
        } catch (e) {
          throw lost.info ? lostError() : e;
        }
      });
      queue = next.then(
        () => undefined,
        () => undefined,
      );
      return next;
    };
    const readLogits = async (): Promise<StepResult> => {
      await readback.mapAsync(GPUMapMode.READ);
      const bytes = readback.getMappedRange(0, readBytes).slice(0);
      readback.unmap();
      const all = new Float32Array(bytes);
      const flagged = new Uint32Array(bytes, 8, 1)[0] !== 0;
      return {
        loss: all[0]!,
        correct: all[1]!,
        finite: Number.isFinite(all[0]) && !flagged,
        logits: all.slice(3),
      };
    };
    const run = (batch: TrainBatch, hyper: Partial<Hyper>, phases: TrainPhase[]) =>
      serial(async () => {
        upload(batch);
        setHyper(hyper, true);
        await guarded(device, "a training step", () => {
          const encoder = device.createCommandEncoder();
          encode(encoder, new Set(phases));
          encoder.copyBufferToBuffer(slotOf(p.loss), 0, readback, 0, 12);
          encoder.copyBufferToBuffer(slotOf(p.logits), 0, readback, 12, readBytes - 12);
          device.queue.submit([encoder.finish()]);
        });
        return readLogits();
      });
    const readTensors = async (
      entries: { name: string; buffer: number; offset?: number; count: number }[],
    ) => {
      const total = entries.reduce((a, e) => a + e.count, 0);
      const staging = device.createBuffer({
        size: Math.max(16, 4 * total),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      try {
        const encoder = device.createCommandEncoder();
        let at = 0;
        for (const e of entries) {
          encoder.copyBufferToBuffer(
            slotOf(e.buffer),
            4 * (e.offset ?? 0),
            staging,
            4 * at,
            4 * e.count,
          );
          at += e.count;
        }
        device.queue.submit([encoder.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        const all = new Float32Array(staging.getMappedRange().slice(0));
        const out = new Map<string, Float32Array>();
        at = 0;
        for (const e of entries) {
          out.set(e.name, all.slice(at, at + e.count));
          at += e.count;
        }
        return out;
      } finally {
        staging.destroy();
      }
    };
    const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
    const readGradients = () =>
      serial(() =>
        readTensors(
          p.params
            .filter((q) => q.grad !== undefined)
            .map((q) => ({ name: q.name, buffer: q.grad!, count: size(q.shape) })),
        ),
      );
    return {
      program: p,
      step: (batch, hyper) => run(batch, hyper, ["forward", "loss", "backward", "update"]),
      async gradients(batch, hyper = {}) {
        const r = await run(batch, hyper, ["forward", "loss", "backward"]);
        return { ...r, grads: await readGradients() };
      },
      readGradients,
      evaluate: (input) =>
        serial(async () => {
          if (input.length > clipElements || input.length % (clipElements / p.batch) !== 0)
            throw new CsncError(
              RuntimeCodes.badInput,
              `${p.model}: evaluation takes up to ${p.batch} clips of ${p.clip.join("x")}; got ${input.length} values`,
            );
          const padded = new Float32Array(clipElements);
          padded.set(input);
          write(p.input, padded);
          setHyper({}, false);
          await guarded(device, "an evaluation pass", () => {
            const encoder = device.createCommandEncoder();
            encode(encoder, new Set(["forward"]));
            encoder.copyBufferToBuffer(slotOf(p.logits), 0, readback, 12, readBytes - 12);
            device.queue.submit([encoder.finish()]);
          });
          const { logits } = await readLogits();
          return logits.slice(0, (input.length / clipElements) * p.batch * p.classes);
        }),
      readState: () =>
        serial(async () => {
          const entries = [
            ...p.params.map((q) => ({ name: q.name, buffer: q.buffer, count: size(q.shape) })),
            ...p.running.flatMap((r) =>
              runningNames(r.layer).map((name, i) => ({
                name,
                buffer: r.buffer,
                offset: i * r.channels,
                count: r.channels,
              })),
            ),
          ];
          const momentum = p.params
            .filter((q) => q.momentum !== undefined)
            .map((q) => ({
              name: `momentum ${q.name}`,
              buffer: q.momentum!,
              count: size(q.shape),
            }));
          const all = await readTensors([...entries, ...momentum]);
          const tensors = new Map<string, Float32Array>();
          const m = new Map<string, Float32Array>();
          for (const [k, v] of all) {
            if (k.startsWith("momentum ")) m.set(k.slice("momentum ".length), v);
            else tensors.set(k, v);
          }
          return { tensors, momentum: m };
        }),
      destroy() {
        for (const b of slots) b.destroy();
        hyperBuffer.destroy();
        readback.destroy();
      },
    };
  } catch (e) {
    for (const b of slots) b.destroy();
    hyperBuffer.destroy();
    throw e;
  }
}
