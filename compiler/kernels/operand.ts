// Operands of kernel templates: each kind of storage a kernel reads (a storage buffer, a staged
// texture, the clip as given or as a texture) provides its declaration and its loads, so a
// generator is written once for all of them (as ONNX Runtime Web's IndicesHelper does). Index
// expressions come from the one geometry in texture.ts. Every index is an i32 expression.
import { bufferArray, valueType, type Arith, type Format } from "./format.js";
import {
  bufferLayout,
  planeColumnExpr,
  planeRowExpr,
  textureLayout,
  type ActivationTexture,
  type PlaneLayout,
} from "./texture.js";

/** An activation a kernel reads, addressed by row (n, t, h) and column (w, channel group). */
export interface ActivationOperand {
  readonly storage: "buffer" | "texture";
  /** Channels one load returns: 4 (vec4 units or texels), 1 (scalars), or the clip's C. */
  readonly lanes: number;
  /** The WGSL type of one load (f32 or vec4<f32>). */
  readonly type: string;
  /** The WGSL type of one `raw` load: `type` in the arithmetic's precision. */
  readonly rawType: string;
  /** Zero padding lies around every plane: taps need no bounds checks. */
  readonly bordered: boolean;
  declaration(index: number): string;
  /** `let v = ...;`: the row cursor of (n, t, h), t and h in the input's own coordinates. */
  row(v: string, n: string, t: string, h: string): string;
  /** The value at column w of row cursor `v`, channel group (or scalar channel) c. */
  load(v: string, w: string, c: string): string;
  /** `load`, but zero where w lies outside the input (bordered inputs hold the zeros). */
  loadInside(v: string, w: string, c: string): string;
  /** `load` and `loadInside` in the arithmetic's type, for the multiply loops. */
  raw(v: string, w: string, c: string): string;
  rawInside(v: string, w: string, c: string): string;
}

const zeroOf = (type: string) => `${type}(0.0)`;

/** `get`, but zero where w lies outside 0..W-1 (a clamped load, then a select). */
const insideOf =
  (get: (v: string, w: string, c: string) => string, type: string, W: number) =>
  (v: string, w: string, c: string) =>
    `select(${zeroOf(type)}, ${get(v, `clamp(${w}, 0, ${W - 1})`, c)}, ${w} >= 0 && ${w} < ${W})`;

/** A channels-last activation in a storage buffer, of `lanes` 1 (f32) or 4 (vec4) a unit. */
export function bufferInput(
  shape: readonly number[],
  lanes: 1 | 4,
  format: Format = "f32",
  arith: Arith = "f32",
): ActivationOperand {
  const l = bufferLayout(shape, shape[1]! / lanes);
  const W = l.planes[3];
  const array = bufferArray(format, lanes, arith);
  const index = (v: string, w: string, c: string) => `u32(${v} + (${w}) * ${l.per} + ${c})`;
  const at = (v: string, w: string, c: string) => array.load("inp", index(v, w, c));
  const raw = (v: string, w: string, c: string) => array.raw("inp", index(v, w, c));
  return {
    storage: "buffer",
    lanes,
    type: valueType("f32", lanes),
    rawType: valueType(arith, lanes),
    bordered: false,
    declaration: (i) => array.declaration(i, "inp"),
    row: (v, n, t, h) => `let ${v} = ${planeRowExpr(l, `i32(${n})`, t, h)} * ${W * l.per};`,
    load: at,
    loadInside: insideOf(at, valueType("f32", lanes), W),
    raw,
    rawInside: insideOf(raw, valueType(arith, lanes), W),
  };
}

/** The model's own N x C x T x H x W clip in a storage buffer, read as given (scalars). */
export function channelsFirstInput(
  shape: readonly number[],
  format: Format = "f32",
  arith: Arith = "f32",
): ActivationOperand {
  const [, c, T, H, W] = shape as [number, number, number, number, number];
  const plane = T * H * W;
  const array = bufferArray(format, 1, arith);
  const index = (v: string, w: string, ch: string) => `u32(${v} + ${w} + (${ch}) * ${plane})`;
  const at = (v: string, w: string, ch: string) => array.load("inp", index(v, w, ch));
  const raw = (v: string, w: string, ch: string) => array.raw("inp", index(v, w, ch));
  return {
    storage: "buffer",
    lanes: 1,
    type: "f32",
    rawType: arith,
    bordered: false,
    declaration: (i) => array.declaration(i, "inp"),
    row: (v, n, t, h) => `let ${v} = i32(${n}) * ${c * plane} + ((${t}) * ${H} + ${h}) * ${W};`,
    load: at,
    loadInside: insideOf(at, "f32", W),
    raw,
    rawInside: insideOf(raw, arith, W),
  };
}

/**
 * A texture of `shape` (staged activations, 4 channels a texel, or the clip, all of its
 * channels in one texel), bordered for a reader whose padding is `readerPad`. rgba32float and
 * rgba16float alike load as vec4<f32>.
 */
export function textureInput(
  shape: readonly number[],
  t: ActivationTexture,
  readerPad: readonly number[],
  arith: Arith = "f32",
): ActivationOperand {
  const l: PlaneLayout = textureLayout(shape, t);
  const bordered = t.pad.every((p, i) => p === readerPad[i]);
  const at = (v: string, w: string, c: string) =>
    texel("inp", `${planeColumnExpr(l, w)} + ${c}`, v);
  const raw = (v: string, w: string, c: string) =>
    arith === "f32" ? at(v, w, c) : `narrow4h(${at(v, w, c)})`;
  const inside = (get: typeof at) => (v: string, w: string, c: string) => {
    if (!bordered) throw new Error("csnc bug: an unbordered texture read outside its planes");
    return get(v, w, c);
  };
  return {
    storage: "texture",
    lanes: t.per === 1 ? shape[1]! : 4,
    type: "vec4<f32>",
    rawType: valueType(arith, 4),
    bordered,
    declaration: (i) => textureBinding(i, "inp"),
    row: (v, n, tt, h) => `let ${v} = ${planeRowExpr(l, `i32(${n})`, tt, h)};`,
    load: at,
    loadInside: inside(at),
    raw,
    rawInside: inside(raw),
  };
}

/** A kernel's packed weights: rows of `columns` units (vec4 or f32), in a buffer or a texture. */
export interface WeightOperand {
  readonly storage: "buffer" | "texture";
  declaration(index: number): string;
  /** The unit at (row, column), i32 expressions, in f32 (the bias, in epilogues). */
  load(row: string, column: string): string;
  /** The unit in the arithmetic's type, for the multiply loops. */
  raw(row: string, column: string): string;
}

/** Weights in a storage buffer, units of `type` (f32 or vec4<f32>) stored in `format`. */
export function bufferWeights(
  type: string,
  columns: number,
  format: Format = "f32",
  arith: Arith = "f32",
): WeightOperand {
  const array = bufferArray(format, type === "f32" ? 1 : 4, arith);
  const index = (row: string, column: string) => `u32((${row}) * ${columns} + ${column})`;
  return {
    storage: "buffer",
    declaration: (i) => array.declaration(i, "wts"),
    load: (row, column) => array.load("wts", index(row, column)),
    raw: (row, column) => array.raw("wts", index(row, column)),
  };
}

/** Weights uploaded as a texture of one texel (4 output channels) a unit. */
export function textureWeights(arith: Arith = "f32"): WeightOperand {
  const load = (row: string, column: string) => texel("wts", column, row);
  return {
    storage: "texture",
    declaration: (i) => textureBinding(i, "wts"),
    load,
    raw: (row, column) => (arith === "f32" ? load(row, column) : `narrow4h(${load(row, column)})`),
  };
}

/** A WGSL statement that skips the loop iteration unless `inside`; nothing for bordered inputs. */
export function skipOutside(op: ActivationOperand, inside: string): string {
  return op.bordered ? "" : `if (!(${inside})) { continue; }`;
}

/** A WGSL block opener that runs only `inside`; a plain block for bordered inputs. */
export function blockInside(op: ActivationOperand, inside: string): string {
  return op.bordered ? "{" : `if (${inside}) {`;
}

function textureBinding(index: number, name: string): string {
  return `@group(0) @binding(${index}) var ${name}: texture_2d<f32>;`;
}

/** WGSL for a texel fetch at integer coordinates `x`, `y`. */
export function texel(name: string, x: string, y: string): string {
  return `textureLoad(${name}, vec2<i32>(${x}, ${y}), 0)`;
}
