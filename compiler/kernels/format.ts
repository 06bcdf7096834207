// How floats are stored: float32, or IEEE halves packed two to a u32 (`--precision
// f16-storage`: WGSL's core pack2x16float / unpack2x16float, no device feature needed). Only
// storage changes: kernels unpack on load and pack on store, and every multiply-add and
// accumulation stays in float32. Halves of activations and weights halve their memory and the
// bytes the memory-bound kernels (depthwise convs, pools, staging copies) move.
//
// Error budget: each stored value is rounded once to 11 significant bits (relative error at
// most 2^-11, about 4.9e-4), so a network of L stored layers sees about sqrt(L) such errors
// per value; the fixtures' logits stay within 1e-2 relative with the same top-1
// (test/precision.test.ts). Values beyond the half range (|x| > 65504) saturate there.

/** A storage binding declaration. */
export function binding(index: number, name: string, type: string, write = false): string {
  return `@group(0) @binding(${index}) var<storage, ${write ? "read_write" : "read"}> ${name}: array<${type}>;`;
}

/** The plan-wide choice: float32, or halves in storage with float32 arithmetic. */
export type Precision = "f32" | "f16-storage";
export const precisions: readonly Precision[] = ["f32", "f16-storage"];

/** How one tensor's (or one layer's weights') floats are stored. */
export type Format = "f32" | "f16";

export const bytesPerFloat = (f: Format) => (f === "f16" ? 2 : 4);

/** Bytes of `floats` floats in `f`: halves are stored in whole u32s. */
export const storedBytes = (floats: number, f: Format) =>
  f === "f16" ? 4 * Math.ceil(floats / 2) : 4 * floats;

/** The WebGPU texel format of a texture holding `f` values, four a texel. */
export const texelFormat = (f: Format) => (f === "f16" ? "rgba16float" : "rgba32float");
export type TexelFormat = ReturnType<typeof texelFormat>;

/**
 * A storage array as kernels see it: values of `lanes` floats (1: f32, 4: vec4<f32>) whatever
 * the format; index expressions are u32 or i32 in units of `lanes` floats.
 */
export interface BufferArray {
  readonly format: Format;
  declaration(index: number, name: string, write?: boolean): string;
  load(name: string, index: string): string;
  /** A statement: `name[index] = value`. Scalar halves cannot be written (two share a u32). */
  store(name: string, index: string, value: string): string;
}

export function bufferArray(format: Format, lanes: 1 | 4): BufferArray {
  if (format === "f32") {
    const type = lanes === 4 ? "vec4<f32>" : "f32";
    return {
      format,
      declaration: (i, name, write) => binding(i, name, type, write),
      load: (name, index) => `${name}[${index}]`,
      store: (name, index, value) => `${name}[${index}] = ${value};`,
    };
  }
  if (lanes === 4)
    return {
      format,
      declaration: (i, name, write) => binding(i, name, "vec2<u32>", write),
      load: (name, index) => `unpack4h(${name}[${index}])`,
      store: (name, index, value) => `${name}[${index}] = pack4h(${value});`,
    };
  return {
    format,
    declaration: (i, name, write) => {
      if (write) throw new Error(`csnc bug: ${name} would store scalar halves`);
      return binding(i, name, "u32");
    },
    load: (name, index) => `unpack1h(${name}[u32(${index}) / 2u], u32(${index}))`,
    store: (name) => {
      throw new Error(`csnc bug: ${name} would store scalar halves`);
    },
  };
}

const helpers: readonly (readonly [string, string])[] = [
  [
    "unpack4h(",
    "fn unpack4h(p: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y)); }",
  ],
  [
    "pack4h(",
    // Out-of-range values would pack to an indeterminate value: saturate them at the half range.
    "fn pack4h(v: vec4<f32>) -> vec2<u32> { let c = clamp(v, vec4<f32>(-65504.0), vec4<f32>(65504.0)); return vec2<u32>(pack2x16float(c.xy), pack2x16float(c.zw)); }",
  ],
  ["unpack1h(", "fn unpack1h(p: u32, i: u32) -> f32 { return unpack2x16float(p)[i & 1u]; }"],
];

/** `wgsl` with the half-packing helpers it calls declared after its `enable`s. */
export function withHalfHelpers(wgsl: string): string {
  const used = helpers.filter(([call]) =>
    new RegExp(`(^|[^a-z0-9_])${call.slice(0, -1)}\\(`).test(wgsl),
  );
  if (used.length === 0) return wgsl;
  const lines = wgsl.split("\n");
  const at = lines.findIndex((l) => !/^\s*enable\s/.test(l));
  lines.splice(at, 0, ...used.map(([, fn]) => fn));
  return lines.join("\n");
}

// Host conversions, rounding to nearest even (WGSL leaves pack2x16float's rounding to the
// implementation; the error budget holds for either).
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

/** The formats of what one kernel reads and writes. */
export interface IoFormats {
  readonly input: Format;
  readonly residual: Format;
  readonly output: Format;
  readonly weights: Format;
}

export const f32Io: IoFormats = { input: "f32", residual: "f32", output: "f32", weights: "f32" };

/** A kernel name's suffix for its formats: nothing in float32. */
export const formatSuffix = (f: IoFormats | undefined) =>
  f && Object.values(f).some((x) => x === "f16")
    ? `-h${(["input", "residual", "output", "weights"] as const).map((k) => (f[k] === "f16" ? k[0] : "")).join("")}`
    : "";
