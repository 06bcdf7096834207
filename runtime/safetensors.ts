// A safetensors reader that validates before it trusts: header length (within the file and a
// 100 MiB cap), JSON, metadata, dtypes, shapes, offsets inside the data region, sizes matching
// shapes exactly and no two tensors overlapping. Float16 and bfloat16 widen to
// float32; integer tensors (BN's num_batches_tracked) are kept as counts only.
import { CsncError, RuntimeCodes } from "./errors.js";

export type DType = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const dtypeBytes: Record<DType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Float tensors as float32; undefined for integer and boolean tensors. */
  readonly data?: Float32Array;
  /** Integer tensors' values (I64 rounded to the nearest double), when asked for (`integers`). */
  readonly integers?: Float64Array;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** The header cap safetensors itself sets (100 MB in the reference reader; here 100 MiB). */
export const maxHeaderBytes = 100 * 2 ** 20;
/** JSON values a header may hold: a tensor needs about a dozen; this bounds the parsed size. */
const maxHeaderValues = 4_000_000;

// JSON values in a header, counted without parsing it: strings, containers and commas.
function countValues(h: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h[i]!;
    if (c === 0x22) {
      n++;
      for (i++; i < h.length && h[i] !== 0x22; i++) if (h[i] === 0x5c) i++;
    } else if (c === 0x2c || c === 0x5b || c === 0x7b) n++;
  }
  return n;
}

/**
 * A name from a file as a message shows it: at most `max` characters, control characters
 * escaped, so that a hostile name cannot flood or garble the terminal.
 */
export function shown(text: string, max = 80): string {
  const cut = text.length > max ? text.slice(0, max) + "..." : text;
  let out = "";
  for (const c of cut) {
    const code = c.charCodeAt(0);
    const control =
      code < 0x20 || (code >= 0x7f && code < 0xa0) || code === 0x2028 || code === 0x2029;
    out += control ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}

class Text {
  constructor(readonly text: string) {}
}

/**
 * A JSON value as compact JSON, cut at `max` characters. Iterative and lazy: a header value
 * nested thousands deep or holding millions of items costs about `max` steps, where
 * JSON.stringify would overflow the call stack or build the whole text.
 */
export function preview(value: unknown, max = 80): string {
  let out = "";
  const work: unknown[] = [value];
  while (work.length && out.length <= max) {
    const v = work.pop();
    if (v instanceof Text) out += v.text;
    else if (typeof v === "string") out += JSON.stringify(v.length > max ? v.slice(0, max) : v);
    else if (Array.isArray(v)) {
      // Every item renders as at least one character: more than `max` are never reached.
      const items = v.slice(0, max + 1);
      work.push(new Text("]"));
      for (let i = items.length - 1; i >= 0; i--) {
        work.push(items[i]);
        if (i > 0) work.push(new Text(","));
      }
      out += "[";
    } else if (typeof v === "object" && v !== null) {
      const keys: string[] = [];
      for (const k in v) if (keys.push(k) > max) break;
      work.push(new Text("}"));
      for (let i = keys.length - 1; i >= 0; i--) {
        work.push((v as Record<string, unknown>)[keys[i]!]);
        work.push(new Text(`${i > 0 ? "," : ""}${JSON.stringify(keys[i]!.slice(0, max))}:`));
      }
      out += "{";
    } else out += String(v);
  }
  return out.length > max ? out.slice(0, max) + "..." : out;
}

/**
 * Parses a safetensors file held in memory. `name` is used in error messages. With `integers`,
 * integer tensors keep their values too (training labels).
 */
export function readSafetensors(
  bytes: Uint8Array,
  name: string,
  options: { readonly integers?: boolean } = {},
): SafetensorsFile {
  const fail = (why: string): never => {
    throw new CsncError(RuntimeCodes.badFile, `${name}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const claimed = view.getBigUint64(0, true);
  if (claimed > BigInt(bytes.length - 8))
    fail(
      `safetensors header length ${claimed} exceeds the file size (${bytes.length} bytes, ${bytes.length - 8} after the length; truncated?)`,
    );
  if (claimed > BigInt(maxHeaderBytes))
    fail(`safetensors header length ${claimed} exceeds the ${maxHeaderBytes / 2 ** 20} MiB cap`);
  const headerLength = Number(claimed);
  const head = bytes.subarray(8, 8 + headerLength);
  if (head[0] !== 0x7b)
    fail(
      headerLength === 0
        ? "the header is empty"
        : `the header does not begin with '{' (byte 8 is 0x${head[0]!.toString(16).padStart(2, "0")})`,
    );
  if (countValues(head) > maxHeaderValues)
    fail(`the header holds more than ${maxHeaderValues} JSON values`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(head));
  } catch (e) {
    return fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    return fail("the header is not a JSON object");
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const show = (v: unknown) => preview(v);
  const entries: { key: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (
        typeof entry !== "object" ||
        entry === null ||
        Array.isArray(entry) ||
        !Object.values(entry).every((v) => typeof v === "string")
      )
        fail(`__metadata__ is not a map of strings to strings (${show(entry)})`);
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null || Array.isArray(e))
      fail(`tensor '${shown(key)}' has no description (${show(entry)})`);
    const dtype = e.dtype as DType;
    if (!(typeof dtype === "string" && Object.hasOwn(dtypeBytes, dtype)))
      fail(
        `tensor '${shown(key)}' has unsupported dtype ${show(e.dtype)} (csnc reads ${Object.keys(dtypeBytes).join(", ")})`,
      );
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.length > 32)
      fail(
        `tensor '${shown(key)}' has an invalid shape ${show(shape)} (not a list of up to 32 sizes)`,
      );
    for (const d of shape as unknown[])
      if (!(typeof d === "number" && Number.isSafeInteger(d) && d >= 0))
        fail(
          `tensor '${shown(key)}' has an invalid shape ${show(shape)}: ${show(d)} is not a non-negative integer`,
        );
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
    ) {
      fail(
        `tensor '${shown(key)}' has invalid data_offsets ${show(offsets)} (not two non-negative integers)`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin)
      fail(`tensor '${shown(key)}' has data_offsets [${begin}, ${end}] that end before they begin`);
    if (end > dataLength)
      fail(
        `tensor '${shown(key)}' lies outside the data (bytes ${begin}..${end} of ${dataLength}; truncated?)`,
      );
    // Exact, so that huge dimensions cannot overflow into a plausible size.
    const needed =
      (shape as number[]).reduce((a, b) => a * BigInt(b), 1n) * BigInt(dtypeBytes[dtype]);
    if (needed !== BigInt(end - begin)) {
      fail(
        `tensor '${shown(key)}' (${dtype} ${(shape as number[]).join("x") || "scalar"}) needs ${needed} bytes but has ${end - begin}`,
      );
    }
    entries.push({ key, dtype, shape: shape as number[], begin, end });
  }
  const sorted = entries.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i]!.begin < sorted[i - 1]!.end)
      fail(
        `tensors '${shown(sorted[i - 1]!.key)}' (bytes ${sorted[i - 1]!.begin}..${sorted[i - 1]!.end}) and '${shown(sorted[i]!.key)}' (bytes ${sorted[i]!.begin}..${sorted[i]!.end}) overlap`,
      );
  const tensors = new Map<string, Tensor>();
  for (const { key, dtype, shape, begin, end } of entries) {
    const count = (end - begin) / dtypeBytes[dtype];
    const raw = new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin);
    let data: Float32Array | undefined;
    if (dtype === "F32") {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = raw.getFloat32(4 * i, true);
    } else if (dtype === "F64") {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = raw.getFloat64(8 * i, true);
    } else if (dtype === "F16") {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(raw.getUint16(2 * i, true));
    } else if (dtype === "BF16") {
      data = new Float32Array(count);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, raw.getUint16(2 * i, true) << 16, true);
        data[i] = word.getFloat32(0, true);
      }
    }
    const integers = options.integers ? integerValues(dtype, raw, count) : undefined;
    tensors.set(key, integers ? { dtype, shape, integers } : { dtype, shape, data });
  }
  return { tensors, metadata };
}

/** An integer tensor's values, or undefined for other dtypes. */
function integerValues(dtype: DType, raw: DataView, count: number): Float64Array | undefined {
  const read: Partial<Record<DType, (i: number) => number>> = {
    I64: (i) => Number(raw.getBigInt64(8 * i, true)),
    I32: (i) => raw.getInt32(4 * i, true),
    I16: (i) => raw.getInt16(2 * i, true),
    I8: (i) => raw.getInt8(i),
    U8: (i) => raw.getUint8(i),
  };
  const at = read[dtype];
  if (!at) return undefined;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = at(i);
  return out;
}

/** What writeSafetensors writes: float32 (F32), int32 (I32) or int64 (I64) tensors. */
export type WrittenData = Float32Array | Int32Array | BigInt64Array;

const writtenDtype = (data: WrittenData): "F32" | "I32" | "I64" =>
  data instanceof Float32Array ? "F32" : data instanceof Int32Array ? "I32" : "I64";

/** Writes tensors as a safetensors file: float32, or int32 / int64 (labels), by their arrays' type. */
export function writeSafetensors(
  tensors: ReadonlyMap<string, { shape: readonly number[]; data: WrittenData }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = {
      dtype: writtenDtype(t.data),
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const { data } of tensors.values()) {
    if (data instanceof Float32Array)
      for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
    else if (data instanceof Int32Array)
      for (let i = 0; i < data.length; i++) view.setInt32(at + 4 * i, data[i]!, true);
    else for (let i = 0; i < data.length; i++) view.setBigInt64(at + 8 * i, data[i]!, true);
    at += data.byteLength;
  }
  return out;
}
