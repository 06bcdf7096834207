// A safetensors reader that validates before it trusts: header length, JSON, dtypes, shapes,
// offsets inside the data region and sizes matching shapes. Float16 and bfloat16 widen to
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

/** Parses a safetensors file held in memory. `name` is used in error messages. */
export function readSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new CsncError(RuntimeCodes.badFile, `${name}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8)
    fail(
      `the header claims ${headerLength} bytes but the file has ${bytes.length - 8} after the length (truncated?)`,
    );
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch (e) {
    return fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    fail("the header is not a JSON object");
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) fail(`tensor '${key}' has no description`);
    const dtype = e.dtype as DType;
    if (!(typeof dtype === "string" && dtype in dtypeBytes))
      fail(`tensor '${key}' has unsupported dtype ${JSON.stringify(e.dtype)}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`tensor '${key}' has an invalid shape ${JSON.stringify(shape)}`);
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      fail(`tensor '${key}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLength)
      fail(
        `tensor '${key}' lies outside the data (bytes ${begin}..${end} of ${dataLength}; truncated?)`,
      );
    if (end - begin !== count * dtypeBytes[dtype]) {
      fail(
        `tensor '${key}' (${dtype} ${(shape as number[]).join("x")}) needs ${count * dtypeBytes[dtype]} bytes but has ${end - begin}`,
      );
    }
    const at = dataStart + begin;
    const raw = new DataView(bytes.buffer, bytes.byteOffset + at, end - begin);
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
    tensors.set(key, { dtype, shape: shape as number[], data });
  }
  return { tensors, metadata };
}

/** Writes float32 tensors as a safetensors file. */
export function writeSafetensors(
  tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = {
      dtype: "F32",
      shape: t.shape,
      data_offsets: [offset, offset + 4 * t.data.length],
    };
    offset += 4 * t.data.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors.values()) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i]!, true);
    at += 4 * t.data.length;
  }
  return out;
}
