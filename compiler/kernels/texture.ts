// Texture inputs for CPU adapters. llvmpipe compiles each storage-buffer load into a branchy
// loop over the SIMD lanes (a mask branch and a bounds check per lane and component), but a
// texel fetch into a few vector loads and shuffles: the same 32x8-tiled GEMM ran about 3x as
// fast reading rgba32float textures as reading storage buffers (`npm run bench:kernels`,
// BENCHMARKS.md).
// Kernels that read textures get their input copied into a staging texture
// (copyBufferToTexture) and their weights uploaded as one at load time.
import type { Triple } from "../ir.js";
import type { KernelLimits, TextureShape } from "./common.js";

/** A staged activation: its texture's size and the zero border around every H x W plane. */
export interface ActivationTexture extends TextureShape {
  readonly pad: Triple;
}

/**
 * Where a channels-last N x T x H x W x C activation lies in a staging texture, with a zero
 * border of `pad` (the reading conv's padding, so its taps need no bounds checks): texel
 * ((w + pW) * C/4 + c/4, (n * (T + 2pT) + t + pT) * (H + 2pH) + h + pH). Undefined when it
 * cannot: channels not a multiple of 4, a row not a multiple of 256 bytes (copyBufferToTexture's
 * rule), or beyond the device's size.
 */
export function activationTexture(
  shape: readonly number[],
  limits: KernelLimits,
  pad: Triple = [0, 0, 0],
): ActivationTexture | undefined {
  const c = shape[1]!;
  if (c % 4 !== 0 || (shape[4]! * c) % 64 !== 0) return undefined;
  return planes(shape, c / 4, limits, pad);
}

/**
 * The model's N x C x T x H x W clip with C <= 4, uploaded by the host as texel
 * (w + pW, (n * (T + 2pT) + t + pT) * (H + 2pH) + h + pH) holding the C channels (the rest and
 * the border zero).
 */
export function clipTexture(
  shape: readonly number[],
  limits: KernelLimits,
  pad: Triple = [0, 0, 0],
): ActivationTexture | undefined {
  return shape[1]! <= 4 ? planes(shape, 1, limits, pad) : undefined;
}

/** The N x T planes of H x W positions, `texels` each, stacked inside their borders. */
function planes(
  shape: readonly number[],
  texels: number,
  limits: KernelLimits,
  pad: Triple,
): ActivationTexture | undefined {
  const [n, , t, h, w] = shape as [number, number, number, number, number];
  const width = (w + 2 * pad[2]) * texels;
  const height = n * (t + 2 * pad[0]) * (h + 2 * pad[1]);
  const max = limits.maxTextureDimension2D;
  return width <= max && height <= max ? { width, height, pad } : undefined;
}

/** WGSL: the texel row of input plane (n, t) at row h, for a staged texture's geometry. */
export function textureRow(
  t: ActivationTexture,
  T: number,
  H: number,
  n: string,
  it: string,
  ih: string,
): string {
  const [pT, pH] = t.pad;
  return `(i32(${n}) * ${T + 2 * pT} + ${it} + ${pT}) * ${H + 2 * pH} + ${ih} + ${pH}`;
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
