// A clip given as decoded frames (bytes) instead of floats: the bytes go up through their own
// staging ring and a GPU kernel (compiler/kernels/normalise.ts) normalises them into the clip's
// buffer, or into a texel buffer copied into the clip texture. Everything is made on the first
// such run and reused after, one pipeline per normalisation.
import { normaliseKernel } from "../../compiler/kernels/normalise.js";
import type { Plan } from "../../compiler/plan.js";
import { guarded, kernelLimits } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { BufferUsage } from "./gpu-flags.js";
import type { Resources } from "./resources.js";
import { stagingRing, type StagingRing } from "./staging-ring.js";

/** N x T x H x W x 3 bytes (RGB, as ffmpeg's rgb24), normalised on the GPU as (byte - mean) / std. */
export interface ClipFrames {
  readonly frames: Uint8Array;
  /** Per channel, in byte units (0-255), as classify's --norm tables. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

export const isClipFrames = (x: unknown): x is ClipFrames =>
  typeof x === "object" && x !== null && (x as ClipFrames).frames instanceof Uint8Array;

const rowPitch = (bytes: number) => Math.ceil(bytes / 256) * 256;

export interface FramesUpload {
  /** Checks `f` against the clip and readies its normalisation; then a staging buffer for it. */
  prepare(f: ClipFrames): Promise<GPUBuffer>;
  /** After `prepare`: the copy, the normalisation, and the texture copy where there is one. */
  encode(commands: GPUCommandEncoder, staging: GPUBuffer, f: ClipFrames): void;
  /** Rejoins the staging buffer to its ring once the submit that used it is done. */
  recycle(staging: GPUBuffer): void;
  destroy(): void;
}

export function framesUpload(device: GPUDevice, plan: Plan, r: Resources): FramesUpload {
  const { shape, layout } = plan.input;
  const [n, c, T, H, W] = shape as [number, number, number, number, number];
  const texture = layout === "texture" ? plan.textures[plan.input.texture!]! : undefined;
  const bytesPerRow = texture ? rowPitch(16 * texture.width) : 0;
  const spec = (f: ClipFrames) => ({
    shape,
    layout,
    mean: f.mean,
    std: f.std,
    ...(texture ? { texture, texelsPerRow: bytesPerRow / 16 } : {}),
  });
  // The kernel's sizes, which do not depend on the normalisation (3-channel clips only).
  const sizes = () =>
    normaliseKernel(
      spec({ frames: new Uint8Array(), mean: [0, 0, 0], std: [1, 1, 1] }),
      kernelLimits(device),
    );
  let made: { ring: StagingRing; bytes: GPUBuffer; out: GPUBuffer; inputBytes: number } | undefined;
  const pipelines = new Map<
    string,
    {
      pipeline: GPUComputePipeline;
      group: GPUBindGroup;
      dispatch: readonly [number, number, number];
    }
  >();
  const inputBuffer = () =>
    r.buffers[plan.tensors.find((t) => t.id === plan.input.tensor)!.buffer]!;
  const keyOf = (f: ClipFrames) => JSON.stringify([f.mean, f.std]);

  return {
    async prepare(f) {
      const expected = n * T * H * W * 3;
      if (c !== 3 || f.frames.length !== expected)
        throw new CsncError(
          RuntimeCodes.badInput,
          `the frames hold ${f.frames.length} bytes; the model's clip ${shape.join("x")} takes ${c === 3 ? expected : "3-channel frames, and it has " + c + " channels"} (N x T x H x W x 3)`,
        );
      if (![...f.mean, ...f.std].every(Number.isFinite) || f.std.some((s) => s === 0))
        throw new CsncError(
          RuntimeCodes.badInput,
          "the frames' mean and std must be finite, std non-zero",
        );
      const probe = sizes();
      made ??= await guarded(device, "allocating the frames' buffers", () => ({
        ring: stagingRing(device, "upload", probe.inputBytes, 2),
        bytes: device.createBuffer({
          size: probe.inputBytes,
          usage: BufferUsage.STORAGE | BufferUsage.COPY_DST,
        }),
        // The texel buffer's border and spare channels are never written: they stay zero.
        out: texture
          ? device.createBuffer({
              size: 4 * probe.outputFloats,
              usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC,
            })
          : inputBuffer(),
        inputBytes: probe.inputBytes,
      }));
      const key = keyOf(f);
      if (!pipelines.has(key)) {
        const k = normaliseKernel(spec(f), kernelLimits(device));
        const pipeline = await device.createComputePipelineAsync({
          layout: "auto",
          compute: { module: device.createShaderModule({ code: k.wgsl }), entryPoint: "main" },
        });
        const m = made;
        const group = await guarded(device, "binding the frames' kernel", () =>
          device.createBindGroup({
            layout: pipeline.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: m.bytes } },
              { binding: 1, resource: { buffer: m.out, size: 4 * k.outputFloats } },
            ],
          }),
        );
        pipelines.set(key, { pipeline, group, dispatch: k.dispatch });
      }
      const staging = await made.ring.acquire();
      new Uint8Array(made.ring.range(staging)).set(f.frames);
      staging.unmap();
      return staging;
    },
    encode(commands, staging, f) {
      const m = made!;
      const p = pipelines.get(keyOf(f))!;
      commands.copyBufferToBuffer(staging, 0, m.bytes, 0, m.inputBytes);
      const pass = commands.beginComputePass();
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, p.group);
      pass.dispatchWorkgroups(...p.dispatch);
      pass.end();
      if (texture)
        commands.copyBufferToTexture(
          { buffer: m.out, bytesPerRow, rowsPerImage: texture.height },
          { texture: r.textures[texture.id]! },
          [texture.width, texture.height],
        );
    },
    recycle: (staging) => made?.ring.recycle(staging),
    destroy() {
      made?.ring.destroy();
      made?.bytes.destroy();
      if (texture) made?.out.destroy();
    },
  };
}
