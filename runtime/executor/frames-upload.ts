// A clip given as decoded frames (bytes) instead of floats: the bytes go up through their own
// staging ring and the plan's frames kernel (Plan.input.frames, compiler/kernels/normalise.ts)
// normalises them into the clip's buffer, or into a texel buffer copied into the clip texture.
// Everything is made on the first such run and reused after; a new normalisation rewrites only
// its six floats.
import type { Plan } from "../../compiler/plan.js";
import { guarded } from "../device.js";
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

export interface FramesUpload {
  /** Checks `f` against the clip, readies its normalisation, and stages its bytes. */
  prepare(f: ClipFrames): Promise<GPUBuffer>;
  /** After `prepare`: the copy, the normalisation, and the texture copy where there is one. */
  encode(commands: GPUCommandEncoder, staging: GPUBuffer): void;
  /** Rejoins the staging buffer to its ring once the submit that used it is done. */
  recycle(staging: GPUBuffer): void;
  destroy(): void;
}

interface Made {
  readonly ring: StagingRing;
  readonly bytes: GPUBuffer;
  readonly out: GPUBuffer;
  readonly norm: GPUBuffer;
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  /** The normalisation `norm` holds. */
  key?: string;
}

export function framesUpload(device: GPUDevice, plan: Plan, r: Resources): FramesUpload {
  const { shape, layout } = plan.input;
  const k = plan.input.frames;
  const texture = layout === "texture" ? plan.textures[plan.input.texture!]! : undefined;
  const inputBuffer = () =>
    r.buffers[plan.tensors.find((t) => t.id === plan.input.tensor)!.buffer]!;
  let made: Made | undefined;

  const make = async (): Promise<Made> => {
    const kernel = k!;
    const pipeline = await device.createComputePipelineAsync({
      layout: "auto",
      compute: { module: device.createShaderModule({ code: kernel.wgsl }), entryPoint: "main" },
    });
    return guarded(device, "allocating the frames' buffers", () => {
      const storage = (size: number, usage: number) =>
        device.createBuffer({ size, usage: BufferUsage.STORAGE | usage });
      const bytes = storage(kernel.inputBytes, BufferUsage.COPY_DST);
      // The texel buffer's border and spare channels are never written: they stay zero.
      const out = texture ? storage(kernel.outputBytes, BufferUsage.COPY_SRC) : inputBuffer();
      const norm = storage(32, BufferUsage.COPY_DST);
      const group = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: bytes } },
          { binding: 1, resource: { buffer: out, size: kernel.outputBytes } },
          { binding: 2, resource: { buffer: norm, size: 24 } },
        ],
      });
      return {
        ring: stagingRing(device, "upload", kernel.inputBytes, 2),
        bytes,
        out,
        norm,
        pipeline,
        group,
      };
    });
  };

  return {
    async prepare(f) {
      const [n, c, T, H, W] = shape as [number, number, number, number, number];
      const expected = n * T * H * W * 3;
      if (!k || f.frames.length !== expected)
        throw new CsncError(
          RuntimeCodes.badInput,
          k
            ? `the frames hold ${f.frames.length} bytes; the model's clip ${shape.join("x")} takes ${expected} (N x T x H x W x 3)`
            : c === 3
              ? `the frames kernel does not fit this device's grid for a ${shape.join("x")} clip; give it floats`
              : `frames are RGB: the model's clip has ${c} channels; give it floats`,
        );
      const values = [...f.mean, ...f.std];
      if (values.length !== 6 || !values.every(Number.isFinite) || f.std.some((s) => s === 0))
        throw new CsncError(
          RuntimeCodes.badInput,
          "the frames' mean and std must be three finite numbers each, std non-zero",
        );
      made ??= await make();
      const key = values.join(",");
      if (made.key !== key) {
        // A rare, 24-byte write: once per normalisation, not per clip.
        device.queue.writeBuffer(made.norm, 0, new Float32Array(values));
        made.key = key;
      }
      const staging = await made.ring.acquire();
      new Uint8Array(made.ring.range(staging)).set(f.frames);
      staging.unmap();
      return staging;
    },
    encode(commands, staging) {
      const m = made!;
      const kernel = k!;
      commands.copyBufferToBuffer(staging, 0, m.bytes, 0, kernel.inputBytes);
      const pass = commands.beginComputePass();
      pass.setPipeline(m.pipeline);
      pass.setBindGroup(0, m.group);
      pass.dispatchWorkgroups(...(kernel.dispatch as [number, number, number]));
      pass.end();
      if (texture)
        commands.copyBufferToTexture(
          { buffer: m.out, bytesPerRow: kernel.bytesPerRow!, rowsPerImage: texture.height },
          { texture: r.textures[texture.id]! },
          [texture.width, texture.height],
        );
    },
    recycle: (staging) => made?.ring.recycle(staging),
    destroy() {
      if (!made) return;
      made.ring.destroy();
      made.bytes.destroy();
      made.norm.destroy();
      if (texture) made.out.destroy();
    },
  };
}
