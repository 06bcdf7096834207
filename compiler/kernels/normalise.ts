// Decoded frames to the model's clip on the GPU: N x T x H x W x 3 bytes (RGB, as ffmpeg's
// rgb24 gives them), packed four to a u32, become (byte - mean[c]) / std[c] in float32, written
// in the layout the clip's readers expect: channels-first, channels-last, or the clip
// texture's texels (a buffer then copied into the texture). A quarter of the float clip's bytes
// cross the bus, and the host does no per-pixel work.
import { binding, entry, f32, grid, unflatten, type KernelLimits } from "./common.js";
import type { ClipLayout } from "./select.js";
import { planeColumnExpr, planeRowExpr, textureLayout, type ActivationTexture } from "./texture.js";

export interface NormaliseSpec {
  /** The clip: N x 3 x T x H x W. */
  readonly shape: readonly number[];
  readonly layout: ClipLayout;
  /** The clip texture, and the texels per row of the buffer it is copied from. */
  readonly texture?: ActivationTexture;
  readonly texelsPerRow?: number;
  /** Per channel, in byte units (0-255). */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

export interface NormaliseKernel {
  readonly wgsl: string;
  readonly dispatch: readonly [number, number, number];
  /** Bytes of the packed frames (a multiple of 4), and floats the output holds. */
  readonly inputBytes: number;
  readonly outputFloats: number;
}

export function normaliseKernel(s: NormaliseSpec, limits: KernelLimits): NormaliseKernel {
  const [n, c, T, H, W] = s.shape as [number, number, number, number, number];
  if (c !== 3) throw new Error(`csnc bug: frames hold 3 channels, the clip ${c}`);
  const pixels = n * T * H * W;
  const g = grid(pixels, limits);
  const at = (ch: number) => {
    switch (s.layout) {
      case "ncthw":
        return `((n * 3u + ${ch}u) * ${T}u + t) * ${H * W}u + y * ${W}u + x`;
      case "nthwc":
        return `idx * 3u + ${ch}u`;
      case "texture": {
        const l = textureLayout(s.shape, s.texture!);
        const row = planeRowExpr(l, "i32(n)", "i32(t)", "i32(y)");
        return `(u32(${row}) * ${s.texelsPerRow!}u + u32(${planeColumnExpr(l, "i32(x)")})) * 4u + ${ch}u`;
      }
    }
  };
  const outputFloats =
    s.layout === "texture" ? s.texelsPerRow! * s.texture!.height * 4 : pixels * 3;
  const wgsl = `${binding(0, "frames", "u32")}
${binding(1, "clip", "f32", true)}
fn byteAt(i: u32) -> f32 { return f32((frames[i / 4u] >> ((i % 4u) * 8u)) & 255u); }
${entry(g.nx, pixels)}
  ${unflatten("idx", [
    ["x", W],
    ["y", H],
    ["t", T],
    ["n", n],
  ])}
${[0, 1, 2]
  .map(
    (ch) =>
      `  clip[${at(ch)}] = (byteAt(idx * 3u + ${ch}u) - ${f32(s.mean[ch]!)}) / ${f32(s.std[ch]!)};`,
  )
  .join("\n")}
}
`;
  return {
    wgsl,
    dispatch: g.dispatch,
    inputBytes: Math.ceil((pixels * 3) / 4) * 4,
    outputFloats,
  };
}
