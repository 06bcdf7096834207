// Executes a plan on a GPUDevice: buffers, weights, pipelines and bind groups are made once;
// each inference is one command encoder, one compute pass and one submit, and reads back only
// the logits and probabilities.
import { clipTexels } from "../compiler/kernels/texture.js";
import type { Plan } from "../compiler/plan.js";
import { guarded } from "./device.js";
import { CsncError, RuntimeCodes } from "./errors.js";

// GPUBufferUsage and GPUMapMode values, so the runtime needs no globals.
const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
const QUERY_RESOLVE = 0x200;
const MAP_MODE_READ = 0x1;
// GPUTextureUsage.
const TEXTURE_COPY_DST = 0x02;
const TEXTURE_BINDING = 0x04;

export interface Outputs {
  /** N x classes, row-major. */
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
}

export interface DispatchTimes {
  /**
   * `timestamp`: GPU timestamps around each dispatch; `wall-clock`: timed on the CPU, one submit
   * per dispatch, short ones repeated within their submit (their staging copy included).
   */
  readonly method: "timestamp" | "wall-clock";
  /** Milliseconds per plan dispatch. */
  readonly ms: readonly number[];
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

/** Channels-first N x C x (T*H*W) -> channels-last N x (T*H*W) x C. */
export function toChannelsLast(
  x: Float32Array,
  shape: readonly number[],
): Float32Array<ArrayBuffer> {
  const [n, c, t, h, w] = shape as [number, number, number, number, number];
  const p = t * h * w;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0; j < p; j++) out[(i * p + j) * c + ch] = x[(i * c + ch) * p + j]!;
  return out;
}

/** Channels-last N x (T*H*W) x C -> channels-first N x C x (T*H*W). */
export function toChannelsFirst(x: Float32Array, shape: readonly number[]): Float32Array {
  const [n, c] = shape as [number, number];
  const p = x.length / (n * c);
  if (p === 1) return x;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < p; j++)
      for (let ch = 0; ch < c; ch++) out[(i * c + ch) * p + j] = x[(i * p + j) * c + ch]!;
  return out;
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
  const align = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);

  const t0 = performance.now();
  const texture = (width: number, height: number, label: string) =>
    device.createTexture({
      size: [width, height],
      format: "rgba32float",
      usage: TEXTURE_BINDING | TEXTURE_COPY_DST,
      label,
    });
  const { buffers, weightBuffers, textures, readback } = await guarded(
    device,
    "allocating buffers",
    () => {
      const buffers = plan.buffers.map((b) =>
        device.createBuffer({
          size: align(b.bytes),
          usage: STORAGE | COPY_SRC | COPY_DST,
          label: `activations ${b.id}`,
        }),
      );
      const weightBuffers = weights.map((data, i): GPUBuffer | GPUTexture => {
        const shape = plan.weights[i]!.texture;
        if (shape) {
          const t = texture(shape.width, shape.height, `weights ${plan.weights[i]!.path}`);
          device.queue.writeTexture(
            { texture: t },
            data as Float32Array<ArrayBuffer>,
            { bytesPerRow: 16 * shape.width, rowsPerImage: shape.height },
            [shape.width, shape.height],
          );
          return t;
        }
        const buffer = device.createBuffer({
          size: align(data.byteLength),
          usage: STORAGE | COPY_DST,
          label: `weights ${plan.weights[i]!.path}`,
        });
        device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
        return buffer;
      });
      const readback = device.createBuffer({
        size: 2 * align(plan.tensors.find((t) => t.id === plan.logits.tensor)!.bytes),
        usage: MAP_READ | COPY_DST,
      });
      const textures = plan.textures.map((t) => texture(t.width, t.height, `${t.purpose} ${t.id}`));
      return { buffers, weightBuffers, textures, readback };
    },
  );

  await device.queue.onSubmittedWorkDone();
  const t1 = performance.now();
  const pipelines = await Promise.all(
    plan.shaders.map(async (code, i) => {
      const module = device.createShaderModule({ code, label: `shader ${i}` });
      try {
        return await device.createComputePipelineAsync({
          layout: "auto",
          compute: { module, entryPoint: "main" },
        });
      } catch (e) {
        const info = await module.getCompilationInfo();
        const details = info.messages
          .map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`)
          .join("\n");
        const name = plan.dispatches.find((d) => d.shader === i)?.kernel ?? `kernel ${i}`;
        throw new CsncError(
          RuntimeCodes.gpuError,
          `WebGPU could not compile ${name} (a csnc bug): ${(e as Error).message}\n${details}`,
        );
      }
    }),
  );

  const t2 = performance.now();
  const tensor = new Map(plan.tensors.map((t) => [t.id, t]));
  const bindGroups = await guarded(device, "binding the kernels", () =>
    plan.dispatches.map((d) =>
      device.createBindGroup({
        layout: pipelines[d.shader]!.getBindGroupLayout(0),
        entries: d.bindings.map((b, binding) => {
          if ("texture" in b) return { binding, resource: textures[b.texture]!.createView() };
          if ("weights" in b) {
            const w = weightBuffers[b.weights]!;
            return { binding, resource: "createView" in w ? w.createView() : { buffer: w } };
          }
          const t = tensor.get(b.tensor)!;
          return {
            binding,
            resource: { buffer: buffers[t.buffer]!, offset: 0, size: align(t.bytes) },
          };
        }),
      }),
    ),
  );

  const inputTensor = tensor.get(plan.input.tensor)!;
  const logitsTensor = tensor.get(plan.logits.tensor)!;
  const probsTensor = tensor.get(plan.probabilities.tensor)!;
  const expected = plan.input.shape.reduce((a, b) => a * b, 1);

  const dispatch = (pass: GPUComputePassEncoder, i: number) => {
    const d = plan.dispatches[i]!;
    pass.setPipeline(pipelines[d.shader]!);
    pass.setBindGroup(0, bindGroups[i]!);
    pass.dispatchWorkgroups(...(d.workgroups as [number, number, number]));
  };
  /** Copies a dispatch's input into its staging texture, if the plan says so (outside passes). */
  const stage = (encoder: GPUCommandEncoder, i: number) => {
    const s = plan.dispatches[i]!.stage;
    if (!s) return false;
    const buffer = buffers[tensor.get(s.tensor)!.buffer]!;
    for (const c of s.copies)
      encoder.copyBufferToTexture(
        { buffer, offset: c.offset, bytesPerRow: c.bytesPerRow, rowsPerImage: c.rows },
        { texture: textures[s.texture]!, origin: c.origin },
        [c.width, c.rows],
      );
    return true;
  };
  /** Every dispatch in order: one pass, split only where a staging copy must come between. */
  const encodeAll = (encoder: GPUCommandEncoder) => {
    let pass: GPUComputePassEncoder | undefined;
    for (let i = 0; i < plan.dispatches.length; i++) {
      if (plan.dispatches[i]!.stage) {
        pass?.end();
        pass = undefined;
        stage(encoder, i);
      }
      pass ??= encoder.beginComputePass();
      dispatch(pass, i);
    }
    pass?.end();
  };

  return {
    plan,
    setup: { buffersMs: t1 - t0, pipelinesMs: t2 - t1 },
    async timeDispatches() {
      const count = plan.dispatches.length;
      if (device.features.has("timestamp-query")) {
        const querySet = device.createQuerySet({ type: "timestamp", count: 2 * count });
        const resolve = device.createBuffer({ size: 16 * count, usage: QUERY_RESOLVE | COPY_SRC });
        const read = device.createBuffer({ size: 16 * count, usage: MAP_READ | COPY_DST });
        const encoder = device.createCommandEncoder();
        for (let i = 0; i < count; i++) {
          stage(encoder, i);
          const pass = encoder.beginComputePass({
            timestampWrites: {
              querySet,
              beginningOfPassWriteIndex: 2 * i,
              endOfPassWriteIndex: 2 * i + 1,
            },
          });
          dispatch(pass, i);
          pass.end();
        }
        encoder.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, read, 0, 16 * count);
        device.queue.submit([encoder.finish()]);
        await read.mapAsync(MAP_MODE_READ);
        const ticks = new BigInt64Array(read.getMappedRange().slice(0));
        read.unmap();
        for (const x of [querySet, resolve, read]) x.destroy();
        return {
          method: "timestamp",
          ms: [...Array(count).keys()].map(
            (i) => Math.max(0, Number(ticks[2 * i + 1]! - ticks[2 * i]!)) / 1e6,
          ),
        };
      }
      // Without timestamps each dispatch is timed on the CPU. One submit costs a fixed
      // submission and synchronisation overhead that would swamp small kernels, so short
      // dispatches are repeated within one submit and the time divided.
      const submit = async (i: number, reps: number) => {
        const start = performance.now();
        const encoder = device.createCommandEncoder();
        stage(encoder, i);
        const pass = encoder.beginComputePass();
        for (let r = 0; r < reps; r++) dispatch(pass, i);
        pass.end();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
        return (performance.now() - start) / reps;
      };
      const ms: number[] = [];
      for (let i = 0; i < count; i++) {
        const once = await submit(i, 1);
        const reps = Math.min(16, Math.floor(20 / Math.max(once, 0.01)));
        ms.push(reps > 1 ? await submit(i, reps) : once);
      }
      return { method: "wall-clock", ms };
    },
    async run(input) {
      if (input.length !== expected) {
        throw new CsncError(
          RuntimeCodes.badInput,
          `the input has ${input.length} values; the model was compiled for ${plan.input.shape.join("x")} (${expected})`,
        );
      }
      if (lostMessage())
        throw new CsncError(RuntimeCodes.deviceLost, `the GPU device was lost: ${lostMessage()}`);
      const half = readback.size / 2;
      await guarded(device, "running the model", () => {
        if (plan.input.layout === "texture") {
          const t = plan.textures[plan.input.texture!]!;
          device.queue.writeTexture(
            { texture: textures[t.id]! },
            clipTexels(input, plan.input.shape, t),
            { bytesPerRow: 16 * t.width, rowsPerImage: t.height },
            [t.width, t.height],
          );
        } else {
          device.queue.writeBuffer(
            buffers[inputTensor.buffer]!,
            0,
            plan.input.layout === "ncthw"
              ? (input as Float32Array<ArrayBuffer>)
              : toChannelsLast(input, plan.input.shape),
          );
        }
        const encoder = device.createCommandEncoder();
        encodeAll(encoder);
        encoder.copyBufferToBuffer(
          buffers[logitsTensor.buffer]!,
          0,
          readback,
          0,
          logitsTensor.bytes,
        );
        encoder.copyBufferToBuffer(
          buffers[probsTensor.buffer]!,
          0,
          readback,
          half,
          probsTensor.bytes,
        );
        device.queue.submit([encoder.finish()]);
      });
      try {
        await readback.mapAsync(MAP_MODE_READ);
      } catch (e) {
        if (lostMessage())
          throw new CsncError(
            RuntimeCodes.deviceLost,
            `the GPU device was lost during the run: ${lostMessage()}`,
          );
        throw e;
      }
      const all = new Float32Array(readback.getMappedRange().slice(0));
      readback.unmap();
      const n = logitsTensor.bytes / 4;
      const shape = logitsTensor.shape;
      return {
        logits: toChannelsFirst(all.slice(0, n), shape),
        probabilities: toChannelsFirst(all.slice(half / 4, half / 4 + n), shape),
      };
    },
    destroy() {
      for (const b of [...buffers, ...weightBuffers, ...textures, readback]) b.destroy();
    },
  };
}
