// How a float32 clip reaches the GPU: written by the host into a mapped staging buffer in the
// layout its readers expect (as given, transposed channels-last, or as the clip texture's
// texels), then copied on the GPU by the same command buffer that runs the model.
import { toHalves } from "../../compiler/kernels/halves.js";
import { paddedRowBytes, texelBytes, writeClipTexels } from "../../compiler/kernels/texture.js";
import type { Plan } from "../../compiler/plan.js";
import { toChannelsLast } from "./host-layout.js";
import type { Resources } from "./resources.js";

export interface ClipUpload {
  /** Bytes of one staged clip. */
  readonly bytes: number;
  /** Writes `input` (N x C x T x H x W, channels-first) into a staging buffer's mapped range. */
  write(mapped: ArrayBuffer, input: Float32Array): void;
  /** Records the copy from the staging buffer into the clip's buffer or texture. */
  encode(commands: GPUCommandEncoder, staging: GPUBuffer): void;
}

export function clipUpload(plan: Plan, r: Resources): ClipUpload {
  const { shape, layout } = plan.input;
  if (layout === "texture") {
    const t = plan.textures[plan.input.texture!]!;
    const bytesPerRow = paddedRowBytes(t);
    const halves = t.format === "f16";
    return {
      bytes: bytesPerRow * t.height,
      write: (mapped, input) =>
        writeClipTexels(
          halves ? new Uint16Array(mapped) : new Float32Array(mapped),
          bytesPerRow / texelBytes(t),
          input,
          shape,
          t,
        ),
      encode: (commands, staging) =>
        commands.copyBufferToTexture(
          { buffer: staging, bytesPerRow, rowsPerImage: t.height },
          { texture: r.textures[t.id]! },
          [t.width, t.height],
        ),
    };
  }
  const tensor = plan.tensors.find((x) => x.id === plan.input.tensor)!;
  const bytes = Math.ceil(tensor.bytes / 4) * 4;
  const ordered = (input: Float32Array) =>
    layout === "ncthw" ? input : toChannelsLast(input, shape);
  return {
    bytes,
    write: (mapped, input) => {
      if (tensor.format === "f16") toHalves(ordered(input), new Uint16Array(mapped));
      else if (layout === "ncthw") new Float32Array(mapped).set(input);
      else toChannelsLast(input, shape, new Float32Array(mapped));
    },
    encode: (commands, staging) =>
      commands.copyBufferToBuffer(staging, 0, r.buffers[tensor.buffer]!, 0, bytes),
  };
}
