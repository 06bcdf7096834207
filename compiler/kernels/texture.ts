// Texture inputs for CPU adapters. llvmpipe compiles each storage-buffer load into a branchy
// loop over the SIMD lanes (about 20 cycles per lane and component), but a texel fetch into a
// few vector loads and shuffles: the same GEMM ran at 31 GFLOP/s reading rgba32float textures
// and 7 reading storage buffers (BENCHMARKS.md). Kernels that read textures get their input
// copied into a staging texture (copyBufferToTexture, about 15 GB/s there) and their weights
// uploaded as one at load time.
import type { KernelLimits, TextureShape } from "./common.js";

/**
 * Where a channels-last N x T x H x W x C activation lies in a staging texture: texel
 * (w * C/4 + c/4, (n * T + t) * H + h). Undefined when it cannot: channels not a multiple of 4,
 * a row not a multiple of 256 bytes (copyBufferToTexture's rule), or beyond the device's size.
 */
export function activationTexture(
  shape: readonly number[],
  limits: KernelLimits,
): TextureShape | undefined {
  const [n, c, t, h, w] = shape as [number, number, number, number, number];
  if (c % 4 !== 0) return undefined;
  const width = w * (c / 4);
  const height = n * t * h;
  const max = limits.maxTextureDimension2D;
  return width % 16 === 0 && width <= max && height <= max ? { width, height } : undefined;
}

/**
 * The model's N x C x T x H x W clip with C <= 4, uploaded by the host as texel
 * (w, (n * T + t) * H + h) holding the C channels (the rest zero).
 */
export function clipTexture(
  shape: readonly number[],
  limits: KernelLimits,
): TextureShape | undefined {
  const [n, c, t, h, w] = shape as [number, number, number, number, number];
  const height = n * t * h;
  const max = limits.maxTextureDimension2D;
  return c <= 4 && w <= max && height <= max ? { width: w, height } : undefined;
}

/**
 * Packed conv weights ([rows][Cout] then the bias row, as `runtime/weights.ts` lays them out)
 * as a texture one row of Cout/4 texels per row. Undefined when Cout is not a multiple of 4 or
 * the rows do not fit.
 */
export function weightTexture(
  cout: number,
  floats: number,
  limits: KernelLimits,
): TextureShape | undefined {
  if (cout % 4 !== 0) return undefined;
  const width = cout / 4;
  const height = floats / cout;
  const max = limits.maxTextureDimension2D;
  return width <= max && height <= max ? { width, height } : undefined;
}

export function textureBinding(index: number, name: string): string {
  return `@group(0) @binding(${index}) var ${name}: texture_2d<f32>;`;
}

/** WGSL for a texel fetch at integer coordinates `x`, `y`. */
export function texel(name: string, x: string, y: string): string {
  return `textureLoad(${name}, vec2<i32>(${x}, ${y}), 0)`;
}
