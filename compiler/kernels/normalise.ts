// Decoded frames to the model's clip on the GPU: N x T x H x W x 3 bytes (RGB, as ffmpeg's
// rgb24 gives them), packed four to a u32, become (byte - mean[c]) / std[c] in float32, written
// in the layout the clip's readers expect: channels-first, channels-last, or the clip
// texture's texels (a buffer then copied into the texture). A quarter of the float clip's bytes
// cross the bus, and the host does no per-pixel work. Planned with the model (Plan.input.frames);
// the mean and std are a binding, so one kernel serves every normalisation.
import { binding, entry, grid, unflatten, type KernelLimits } from "./common.js";
import type { ClipLayout } from "./select.js";
import { planeColumnExpr, planeRowExpr, textureLayout, type ActivationTexture } from "./texture.js";

export interface NormaliseSpec {
  /** The clip: N x 3 x T x H x W. */
  readonly shape: readonly number[];
  readonly layout: ClipLayout;
  /** The clip texture, and the texels per row of the buffer it is copied from. */
  readonly texture?: ActivationTexture;
  readonly texelsPerRow?: number;
}

/**
 * The frames kernel: bindings frames (u32), clip (f32, written) and mean and std (6 f32).
 * Plain data, part of the plan.
 */
export interface NormaliseKernel {
  readonly wgsl: string;
  readonly dispatch: readonly [number, number, number];
  /** Bytes of the packed frames (a multiple of 4), and floats the output holds. */
  readonly inputBytes: number;
  readonly outputFloats: number;
  /** For a texture clip: the bytes per row of the texel buffer copied into it. */
  readonly bytesPerRow?: number;
}

/** The frames kernel of a 3-channel clip (undefined for other clips: frames are RGB). */
export function normaliseKernel(
  s: NormaliseSpec,
  limits: KernelLimits,
): NormaliseKernel | undefined {
  const [n, c, T, H, W] = s.shape as [number, number, number, number, number];
  if (c !== 3) return undefined;
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
${binding(2, "norm", "f32")}
fn byteAt(i: u32) -> f32 { return f32((frames[i / 4u] >> ((i % 4u) * 8u)) & 255u); }
${entry(g.nx, pixels)}
  ${unflatten("idx", [
    ["x", W],
    ["y", H],
    ["t", T],
    ["n", n],
  ])}
${[0, 1, 2]
  .map((ch) => `  clip[${at(ch)}] = (byteAt(idx * 3u + ${ch}u) - norm[${ch}u]) / norm[${ch + 3}u];`)
  .join("\n")}
}
`;
  return {
    wgsl,
    dispatch: g.dispatch,
    inputBytes: Math.ceil((pixels * 3) / 4) * 4,
    outputFloats,
    ...(s.layout === "texture" ? { bytesPerRow: 16 * s.texelsPerRow! } : {}),
  };
}
