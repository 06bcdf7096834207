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
//
// `--precision f16` (devices with `shader-f16` only) stores the same bytes as native f16
// arrays (a vec4<f16> is two packed u32s), multiplies in f16 and accumulates in f32: the hot
// loops read through `raw` and widen each product sum with `widen` before accumulating.

/** A storage binding declaration. */
export function binding(index: number, name: string, type: string, write = false): string {
  return `@group(0) @binding(${index}) var<storage, ${write ? "read_write" : "read"}> ${name}: array<${type}>;`;
}

/**
 * The plan-wide choice: float32; halves in storage with float32 arithmetic; or halves in
 * storage and in the multiplies, accumulated in float32 (shader-f16).
 */
export type Precision = "f32" | "f16-storage" | "f16";
export const precisions: readonly Precision[] = ["f32", "f16-storage", "f16"];

/** The type kernels multiply in. */
export type Arith = "f32" | "f16";

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
  /** The value in f32 (or vec4<f32>). */
  load(name: string, index: string): string;
  /** The value in the arithmetic type: f16 under `--precision f16`, else `load`'s. */
  raw(name: string, index: string): string;
  /** A statement: `name[index] = value`. Scalar halves cannot be written (two share a u32). */
  store(name: string, index: string, value: string): string;
}

/** The WGSL type of `lanes` floats (1 or 4) in `arith`. */
export const valueType = (arith: Arith, lanes: 1 | 4) => (lanes === 4 ? `vec4<${arith}>` : arith);

/** `expr`, of the arithmetic type, as f32 (or vec4<f32>): where products join the accumulators. */
export const widen = (arith: Arith, lanes: 1 | 4, expr: string) =>
  arith === "f32" ? expr : `${valueType("f32", lanes)}(${expr})`;

export function bufferArray(format: Format, lanes: 1 | 4, arith: Arith = "f32"): BufferArray {
  const f32 = valueType("f32", lanes);
  if (arith === "f16") {
    const native = valueType("f16", lanes);
    const type = format === "f16" ? native : f32;
    return {
      format,
      declaration: (i, name, write) => binding(i, name, type, write),
      load: (name, index) => (format === "f16" ? `${f32}(${name}[${index}])` : `${name}[${index}]`),
      // A float32 value may lie beyond the half range: saturated, as stores are.
      raw: (name, index) =>
        format === "f16" ? `${name}[${index}]` : `narrow${lanes}h(${name}[${index}])`,
      store: (name, index, value) =>
        `${name}[${index}] = ${format === "f16" ? `narrow${lanes}h(${value})` : value};`,
    };
  }
  if (format === "f32")
    return {
      format,
      declaration: (i, name, write) => binding(i, name, f32, write),
      load: (name, index) => `${name}[${index}]`,
      raw: (name, index) => `${name}[${index}]`,
      store: (name, index, value) => `${name}[${index}] = ${value};`,
    };
  if (lanes === 4)
    return {
      format,
      declaration: (i, name, write) => binding(i, name, "vec2<u32>", write),
      load: (name, index) => `unpack4h(${name}[${index}])`,
      raw: (name, index) => `unpack4h(${name}[${index}])`,
      store: (name, index, value) => `${name}[${index}] = pack4h(${value});`,
    };
  const scalar = (name: string, index: string) =>
    `unpack1h(${name}[u32(${index}) / 2u], u32(${index}))`;
  return {
    format,
    declaration: (i, name, write) => {
      if (write) throw new Error(`csnc bug: ${name} would store scalar halves`);
      return binding(i, name, "u32");
    },
    load: scalar,
    raw: scalar,
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
  // f32 to f16 outside the half range is implementation-defined: saturate, as pack4h does.
  [
    "narrow4h(",
    "fn narrow4h(v: vec4<f32>) -> vec4<f16> { return vec4<f16>(clamp(v, vec4<f32>(-65504.0), vec4<f32>(65504.0))); }",
  ],
  ["narrow1h(", "fn narrow1h(v: f32) -> f16 { return f16(clamp(v, -65504.0, 65504.0)); }"],
];

/**
 * `wgsl` with the half helpers it calls declared after its `enable`s, and `enable f16;` where
 * it uses the f16 type.
 */
export function withHalfHelpers(wgsl: string): string {
  const used = helpers.filter(([call]) =>
    new RegExp(`(^|[^a-z0-9_])${call.slice(0, -1)}\\(`).test(wgsl),
  );
  const lines = wgsl.split("\n");
  const at = lines.findIndex((l) => !/^\s*enable\s/.test(l));
  lines.splice(at, 0, ...used.map(([, fn]) => fn));
  const out = lines.join("\n");
  // Any use of the type, the helpers' included, outside comments (names may mention halves).
  return /\bf16\b/.test(out.replace(/\/\/.*$/gm, "")) ? `enable f16;\n${out}` : out;
}

/** The formats of what one kernel reads and writes, and the type it multiplies in. */
export interface IoFormats {
  readonly input: Format;
  readonly residual: Format;
  readonly output: Format;
  readonly weights: Format;
  /** `f16`: products in halves (`--precision f16`); absent: float32. */
  readonly arith?: Arith;
}

export const f32Io: IoFormats = { input: "f32", residual: "f32", output: "f32", weights: "f32" };

/** A kernel name's suffix for its formats: nothing in float32. */
export const formatSuffix = (f: IoFormats | undefined) => {
  const halves = (["input", "residual", "output", "weights"] as const).filter(
    (k) => f?.[k] === "f16",
  );
  return (
    (halves.length ? `-h${halves.map((k) => k[0]).join("")}` : "") +
    (f?.arith === "f16" ? "-a16" : "")
  );
};

/** The arithmetic of a kernel with formats `f`. */
export const arithOf = (f: IoFormats | undefined): Arith => f?.arith ?? "f32";
