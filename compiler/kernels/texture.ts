// The geometry of an activation in memory, defined once: N x T planes of H x W positions, each
// position `per` units wide (floats, vec4s or texels), every plane inside a zero border of
// `pad`. A storage buffer is the unbordered case; a staging texture may be bordered by its
// reader's padding, so that taps need no bounds checks. The WGSL index expressions (operand.ts)
// and the host's copy offsets (`stagingCopies`, `writeClipTexels`) are both computed by `planeRow`
// and `planeColumn`, over numbers or over WGSL text.
//
// Texture inputs are for CPU adapters: llvmpipe compiles each storage-buffer load into a branchy
// loop over the SIMD lanes (a mask branch and a bounds check per lane and component), but a
// texel fetch into a few vector loads and shuffles: the same 32x8-tiled GEMM ran about 3x as
// fast reading rgba32float textures as reading storage buffers (`npm run bench:kernels`,
// BENCHMARKS.md).
import type { Triple } from "../ir.js";
import { bytesPerFloat, type Format } from "./format.js";
import { toHalf } from "./halves.js";
import type { KernelLimits, TextureShape } from "./limits.js";

/** N x T planes of H x W positions, `per` units each, every plane inside a border of `pad`. */
export interface PlaneLayout {
  readonly planes: readonly [n: number, t: number, h: number, w: number];
  readonly per: number;
  readonly pad: Triple;
}

/** A staged activation texture: its size, its border, and its texels per position. */
export interface ActivationTexture extends TextureShape {
  readonly pad: Triple;
  /** Texels per position: C / 4 for activations, 1 for the clip (C <= 4). */
  readonly per: number;
}

/** Bytes of one texel of a texture of `shape` (rgba32float, or rgba16float for halves). */
export const texelBytes = (shape: Pick<TextureShape, "format">) =>
  4 * bytesPerFloat(shape.format ?? "f32");

/** `{ format }` for halves, nothing for float32 (so float32 plans read as they always have). */
const formatField = (format: Format) => (format === "f16" ? { format } : {});

/** Integer arithmetic over numbers (the host) or WGSL i32 expressions (the kernels). */
interface Arith<T> {
  lit(x: number): T;
  add(...xs: T[]): T;
  mul(x: T, k: number): T;
}

const numbers: Arith<number> = {
  lit: (x) => x,
  add: (...xs) => xs.reduce((a, b) => a + b, 0),
  mul: (x, k) => x * k,
};

const wgsl: Arith<string> = {
  lit: (x) => String(x),
  add: (...xs) => `(${xs.filter((x) => x !== "0").join(" + ") || "0"})`,
  mul: (x, k) => (k === 1 ? x : `${x} * ${k}`),
};

function row<T>(l: PlaneLayout, a: Arith<T>, n: T, t: T, h: T): T {
  const [, T, H] = l.planes;
  const [pT, pH] = l.pad;
  return a.add(a.mul(a.add(a.mul(n, T + 2 * pT), t, a.lit(pT)), H + 2 * pH), h, a.lit(pH));
}

function column<T>(l: PlaneLayout, a: Arith<T>, w: T): T {
  return a.mul(a.add(w, a.lit(l.pad[2])), l.per);
}

/** The row of plane (n, t) at height h (h and t in unbordered coordinates). */
export const planeRow = (l: PlaneLayout, n: number, t: number, h: number) =>
  row(l, numbers, n, t, h);
/** The first unit of position w of a row. */
export const planeColumn = (l: PlaneLayout, w: number) => column(l, numbers, w);
/** `planeRow` as a WGSL i32 expression. */
export const planeRowExpr = (l: PlaneLayout, n: string, t: string, h: string) =>
  row(l, wgsl, n, t, h);
/** `planeColumn` as a WGSL i32 expression. */
export const planeColumnExpr = (l: PlaneLayout, w: string) => column(l, wgsl, w);

/** Units per row, and rows. */
export function planeExtent(l: PlaneLayout): { width: number; height: number } {
  const [n, t, h, w] = l.planes;
  return { width: (w + 2 * l.pad[2]) * l.per, height: n * (t + 2 * l.pad[0]) * (h + 2 * l.pad[1]) };
}

/** The layout of a channels-last N x C x T x H x W activation in a storage buffer of `per` units a position. */
export function bufferLayout(shape: readonly number[], per: number): PlaneLayout {
  const [n, , t, h, w] = shape as [number, number, number, number, number];
  return { planes: [n, t, h, w], per, pad: [0, 0, 0] };
}

/** The layout of activation `shape` in texture `t`. */
export function textureLayout(shape: readonly number[], t: ActivationTexture): PlaneLayout {
  const [n, , T, H, W] = shape as [number, number, number, number, number];
  return { planes: [n, T, H, W], per: t.per, pad: t.pad };
}

function fit(
  shape: readonly number[],
  per: number,
  pad: Triple,
  limits: KernelLimits,
  format: Format,
): ActivationTexture | undefined {
  const { width, height } = planeExtent({ ...bufferLayout(shape, per), pad });
  const max = limits.maxTextureDimension2D;
  return width <= max && height <= max
    ? { width, height, pad, per, ...formatField(format) }
    : undefined;
}

/**
 * A channels-last activation staged into a texture of C/4 texels a position, inside a zero
 * border of `pad`. Undefined when it cannot be: channels not a multiple of 4, a row not a
 * multiple of 256 bytes (copyBufferToTexture's rule), or beyond the device's size.
 */
export function activationTexture(
  shape: readonly number[],
  limits: KernelLimits,
  pad: Triple = [0, 0, 0],
  format: Format = "f32",
): ActivationTexture | undefined {
  const c = shape[1]!;
  if (c % 4 !== 0 || (shape[4]! * c * bytesPerFloat(format)) % 256 !== 0) return undefined;
  return fit(shape, c / 4, pad, limits, format);
}

/** The model's N x C x T x H x W clip with C <= 4, packed by the host one texel a position. */
export function clipTexture(
  shape: readonly number[],
  limits: KernelLimits,
  pad: Triple = [0, 0, 0],
  format: Format = "f32",
): ActivationTexture | undefined {
  return shape[1]! <= 4 ? fit(shape, 1, pad, limits, format) : undefined;
}

/**
 * Packed conv weights ([rows][Cout] then the bias row, as the conv families lay them out) as a
 * texture of Cout/4 texels a row. Undefined when Cout is not a multiple of 4 or the rows do not fit.
 */
export function weightTexture(
  cout: number,
  floats: number,
  limits: KernelLimits,
  format: Format = "f32",
): TextureShape | undefined {
  if (cout % 4 !== 0) return undefined;
  const width = cout / 4;
  const height = floats / cout;
  const max = limits.maxTextureDimension2D;
  return width <= max && height <= max ? { width, height, ...formatField(format) } : undefined;
}

/** Bytes per row of a buffer copied whole into texture `t`: a multiple of 256 (copyBufferToTexture's rule). */
export const paddedRowBytes = (t: TextureShape) => Math.ceil((texelBytes(t) * t.width) / 256) * 256;

/** One copyBufferToTexture of a staging copy: rows of a tensor's buffer into the texture. */
export interface StagingCopy {
  readonly offset: number;
  readonly bytesPerRow: number;
  readonly rows: number;
  readonly origin: { readonly x: number; readonly y: number };
  /** Texels per row. */
  readonly width: number;
}

/**
 * The copies that stage channels-last `shape` into texture `t`: plane by plane into the zero
 * border; one copy of every plane when there is no border. Each copy lands at its plane's first
 * interior row, also when N x T is 1 (then the single plane still sits below its border).
 */
export function stagingCopies(shape: readonly number[], t: ActivationTexture): StagingCopy[] {
  const [n, c, T, H, W] = shape as [number, number, number, number, number];
  const l = textureLayout(shape, t);
  const bytesPerRow = bytesPerFloat(t.format ?? "f32") * W * c;
  const bordered = t.pad.some((p) => p > 0);
  const copies = bordered ? n * T : 1;
  const rows = (n * T * H) / copies;
  return [...Array(copies).keys()].map((p) => ({
    offset: p * rows * bytesPerRow,
    bytesPerRow,
    rows,
    origin: { x: planeColumn(l, 0), y: planeRow(l, Math.floor(p / T), p % T, 0) },
    width: W * t.per,
  }));
}

/**
 * Channels-first N x C x T x H x W (C <= 4) as the clip texture's texels, into `out` (rows of
 * `texelsPerRow` texels: a staging buffer's rows are padded to 256 bytes): floats, or halves
 * for an rgba16float texture. Writes only the interior's first C channels: the border and
 * spare channels keep their zeros.
 */
export function writeClipTexels(
  out: Float32Array | Uint16Array,
  texelsPerRow: number,
  x: Float32Array,
  shape: readonly number[],
  t: ActivationTexture,
): void {
  const [n, c, T, H, W] = shape as [number, number, number, number, number];
  const l = textureLayout(shape, t);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let tt = 0; tt < T; tt++)
        for (let h = 0; h < H; h++) {
          const src = (((i * c + ch) * T + tt) * H + h) * W;
          const dst = (planeRow(l, i, tt, h) * texelsPerRow + planeColumn(l, 0)) * 4 + ch;
          if (out instanceof Uint16Array)
            for (let w = 0; w < W; w++) out[dst + 4 * w] = toHalf(x[src + w]!);
          else for (let w = 0; w < W; w++) out[dst + 4 * w] = x[src + w]!;
        }
}
