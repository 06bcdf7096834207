// Decoded frames to the model's clip on the GPU: N x T x H x W x 3 bytes (RGB, as ffmpeg's
// rgb24 gives them), packed four to a u32, become (byte - mean[c]) / std[c] in float32 (or
// halves, for a clip stored in f16: two values a u32, so an invocation writes whole u32s), written
// in the layout the clip's readers expect: channels-first, channels-last, or the clip
// texture's texels (a buffer then copied into the texture). A quarter of the float clip's bytes
// cross the bus, and the host does no per-pixel work. Planned with the model (Plan.input.frames);
// the mean and std are a binding, so one kernel serves every normalisation.
import { binding, entry, grid, unflatten, type KernelLimits } from "./common.js";
import type { Format } from "./format.js";
import type { ClipLayout } from "./select.js";
import { planeColumnExpr, planeRowExpr, textureLayout, type ActivationTexture } from "./texture.js";

export interface NormaliseSpec {
  /** The clip: N x 3 x T x H x W. */
  readonly shape: readonly number[];
  readonly layout: ClipLayout;
  /** The clip texture, and the texels per row of the buffer it is copied from. */
  readonly texture?: ActivationTexture;
  readonly texelsPerRow?: number;
  /** How the clip is stored; absent: float32. */
  readonly format?: Format;
}

/**
 * The frames kernel: bindings frames (u32), clip (f32, written) and mean and std (6 f32).
 * Plain data, part of the plan.
 */
export interface NormaliseKernel {
  readonly wgsl: string;
  readonly dispatch: readonly [number, number, number];
  /** Bytes of the packed frames (a multiple of 4), and of the output (a multiple of 4). */
  readonly inputBytes: number;
  readonly outputBytes: number;
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
  if (s.format === "f16") return halfNormaliseKernel(s, limits);
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
  const outputBytes =
    4 * (s.layout === "texture" ? s.texelsPerRow! * s.texture!.height * 4 : pixels * 3);
  const wgsl = `${binding(0, "frames", "u32")}
${binding(1, "clip", "f32", true)}
${binding(2, "norm", "f32")}
${byteAt}
${entry(g.nx, pixels)}
  ${pixelOf(s.shape)}
${[0, 1, 2]
  .map((ch) => `  clip[${at(ch)}] = (byteAt(idx * 3u + ${ch}u) - norm[${ch}u]) / norm[${ch + 3}u];`)
  .join("\n")}
}
`;
  return {
    wgsl,
    dispatch: g.dispatch,
    inputBytes: Math.ceil((pixels * 3) / 4) * 4,
    outputBytes,
    ...(s.layout === "texture" ? { bytesPerRow: 16 * s.texelsPerRow! } : {}),
  };
}

/** WGSL: the pixel (n, t, y, x) of invocation idx, frame by frame. */
function pixelOf(shape: readonly number[]): string {
  const [n, , T, H, W] = shape as [number, number, number, number, number];
  return unflatten("idx", [
    ["x", W],
    ["y", H],
    ["t", T],
    ["n", n],
  ]);
}

const byteAt = `fn byteAt(i: u32) -> f32 { return f32((frames[i / 4u] >> ((i % 4u) * 8u)) & 255u); }`;

/** The frames kernel of a clip stored in halves: whole u32s (two values, or half a texel) a store. */
function halfNormaliseKernel(s: NormaliseSpec, limits: KernelLimits): NormaliseKernel {
  const [n, , T, H, W] = s.shape as [number, number, number, number, number];
  const pixels = n * T * H * W;
  const frame = T * H * W;
  // Saturated at the half range, as pack4h does (a tiny std could overflow it).
  const value = `fn value(pixel: u32, ch: u32) -> f32 { return clamp((byteAt(pixel * 3u + ch) - norm[ch]) / norm[ch + 3u], -65504.0, 65504.0); }`;
  const head = `${binding(0, "frames", "u32")}
${binding(1, "clip", "u32", true)}
${binding(2, "norm", "f32")}
${byteAt}
${value}`;
  if (s.layout === "texture") {
    // One invocation a pixel: its rgba16float texel is two u32s (r, g) and (b, 0).
    const g = grid(pixels, limits);
    const l = textureLayout(s.shape, s.texture!);
    const row = planeRowExpr(l, "i32(n)", "i32(t)", "i32(y)");
    const wgsl = `${head}
${entry(g.nx, pixels)}
  ${pixelOf(s.shape)}
  let texel = u32(${row}) * ${s.texelsPerRow!}u + u32(${planeColumnExpr(l, "i32(x)")});
  clip[texel * 2u] = pack2x16float(vec2<f32>(value(idx, 0u), value(idx, 1u)));
  clip[texel * 2u + 1u] = pack2x16float(vec2<f32>(value(idx, 2u), 0.0));
}
`;
    return {
      wgsl,
      dispatch: g.dispatch,
      inputBytes: Math.ceil((pixels * 3) / 4) * 4,
      outputBytes: 8 * s.texelsPerRow! * s.texture!.height,
      bytesPerRow: 8 * s.texelsPerRow!,
    };
  }
  // One invocation a u32: clip elements 2j and 2j + 1, each mapped back to its pixel and channel.
  const elements = pixels * 3;
  const pairs = Math.ceil(elements / 2);
  const g = grid(pairs, limits);
  const source =
    s.layout === "nthwc"
      ? "return vec2<u32>(e / 3u, e % 3u);"
      : `let q = e / ${frame}u; return vec2<u32>((q / 3u) * ${frame}u + e % ${frame}u, q % 3u);`;
  const wgsl = `${head}
// Clip element e (${s.layout}) -> (pixel, channel).
fn source(e: u32) -> vec2<u32> { ${source} }
fn element(e: u32) -> f32 { if (e >= ${elements}u) { return 0.0; } let p = source(e); return value(p.x, p.y); }
${entry(g.nx, pairs)}
  clip[idx] = pack2x16float(vec2<f32>(element(2u * idx), element(2u * idx + 1u)));
}
`;
  return {
    wgsl,
    dispatch: g.dispatch,
    inputBytes: Math.ceil((pixels * 3) / 4) * 4,
    outputBytes: 4 * pairs,
  };
}
