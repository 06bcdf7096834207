// The host's half conversions: floats to the halves an f16 plan uploads (weights, the clip),
// and back, for reading half tensors. Rounding to nearest even; WGSL leaves pack2x16float's
// rounding to the implementation, and the error budget (format.ts) holds for either.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE half nearest to `x`, as its 16 bits; beyond the half range, saturated. */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7bff); // NaN stays NaN; inf saturates
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7bff;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  const rounded = half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0);
  return sign | Math.min(rounded, 0x7bff);
}

/** The value of half bits `h`. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** `x` as halves, padded to whole u32s (what a buffer of format f16 holds). */
export function toHalves(x: ArrayLike<number>, out = new Uint16Array(2 * Math.ceil(x.length / 2))) {
  for (let i = 0; i < x.length; i++) out[i] = toHalf(x[i]!);
  return out;
}

export function fromHalves(h: ArrayLike<number>, count = h.length): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = fromHalf(h[i]!);
  return out;
}

/** `x` as a half would store it. */
export const roundToHalf = (x: number) => fromHalf(toHalf(x));
