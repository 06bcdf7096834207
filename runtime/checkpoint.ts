// Reading published checkpoints: PyTorch's zip format (torch.save >= 1.6), its legacy format,
// and safetensors. Float16 and bfloat16 widen to float32; integer counters are kept as such
// (and ignored by the weight loader). State dicts may be bare or nested under `state_dict`,
// `model_state` or `model`.
//
// Nothing a file declares is trusted with memory or time. The zip directory is read here, and
// only data.pkl and the storages the state dict's tensors use are inflated, each into a buffer
// of the size the pickle declares, by streaming inflation that stops there: a zip bomb,
// referenced or not, costs nothing. What is unpacked beyond the file itself is budgeted.
import { Inflate } from "fflate";
import { CsncError, RuntimeCodes } from "./errors.js";
import { readPickle, type PickleValue, type StorageRef, type TensorRef } from "./pickle.js";
import {
  dtypeBytes,
  halfToFloat,
  readSafetensors,
  shown,
  type DType,
  type Tensor,
} from "./safetensors.js";

export interface Checkpoint {
  readonly format: "safetensors" | "pytorch-zip" | "pytorch-legacy";
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

const MiB = 2 ** 20;
/** The largest data.pkl read: real ones are kilobytes to a few megabytes. */
export const maxPickleBytes = 64 * MiB;
/** Deflate's best ratio (a 258-byte match in 2 bits): a directory claiming more is lying. */
const maxDeflateRatio = 1032;

const bad = (message: string) => new CsncError(RuntimeCodes.badFile, message);
const amount = (n: number) => (n < MiB ? `${n} bytes` : `${+(n / MiB).toFixed(1)} MiB`);

/** Deflate ratio up to which a storage counts as honest data: float weights deflate to 0.8-0.95. */
const honestRatio = 4;

/**
 * Bytes the reader may allocate beyond the file: inflated storages and float32 tensors. An
 * honest checkpoint needs, per storage it uses, the inflated bytes (none when stored) and float32
 * copies of up to twice those bytes (float16 widened): 2x a stored storage, 3x a deflated one, so
 * a deflated float16 checkpoint needs 3 times its uncompressed size, several times the file. Each
 * storage read earns that allowance, a deflated one only up to `honestRatio` times its compressed
 * bytes, and in all at most what the file's own bytes can earn (directory entries may share data);
 * 512 MiB are always allowed. A small file describing a huge stride-0 tensor, many tensors over
 * one storage, or a deflated storage of zeros runs out.
 */
export class Budget {
  private static readonly floor = 512 * MiB;
  private readonly ceiling: number;
  private earned = 0;
  private used = 0;
  constructor(
    private readonly file: string,
    private readonly size: number,
  ) {
    this.ceiling = 3 * honestRatio * size;
  }
  /** A storage of `bytes` bytes was read: stored in the file, or inflated from `compressed`. */
  earn(bytes: number, compressed?: number) {
    const allowance =
      compressed === undefined ? 2 * bytes : 3 * Math.min(bytes, honestRatio * compressed);
    this.earned = Math.min(this.earned + allowance, this.ceiling);
  }
  take(bytes: number, what: string) {
    this.used += bytes;
    const limit = Math.max(Budget.floor, this.earned);
    if (!(this.used <= limit))
      throw bad(
        `${this.file}: refused: ${what} would take the unpacked tensors past ${amount(limit)}, more than a checkpoint of ${amount(this.size)} can honestly hold (the limit is the larger of 512 MiB and what its storages need: twice their bytes for float32 copies, plus the inflated bytes where they deflate by up to ${honestRatio} to 1)`,
      );
  }
}

function toFloat32(
  dtype: DType,
  raw: Uint8Array,
  index: (i: number) => number,
  count: number,
): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(count);
  const word = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < count; i++) {
    const e = index(i);
    switch (dtype) {
      case "F32":
        out[i] = view.getFloat32(4 * e, true);
        break;
      case "F64":
        out[i] = view.getFloat64(8 * e, true);
        break;
      case "F16":
        out[i] = halfToFloat(view.getUint16(2 * e, true));
        break;
      default: // BF16
        word.setUint32(0, view.getUint16(2 * e, true) << 16, true);
        out[i] = word.getFloat32(0, true);
    }
  }
  return out;
}

function stateDict(root: PickleValue, file: string): Map<PickleValue, PickleValue> {
  if (!(root instanceof Map)) throw bad(`${file}: the checkpoint holds no dictionary of tensors`);
  for (const key of ["state_dict", "model_state", "model"]) {
    const inner = root.get(key);
    if (inner instanceof Map) return inner;
  }
  return root;
}

const floats = new Set<string>(["F32", "F64", "F16", "BF16"]);

function tensorsOf(
  dict: Map<PickleValue, PickleValue>,
  storage: (ref: StorageRef) => Uint8Array,
  file: string,
  budget: Budget,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, value] of dict) {
    const t = value as TensorRef;
    if (typeof name !== "string" || t?.kind !== "tensor") continue;
    const dtype = t.storage.dtype as DType;
    const count = t.shape.reduce((a, b) => a * b, 1);
    // The last element the view reaches (strides are non-negative), checked against what the
    // pickle declares before the storage is touched.
    let last = t.offset;
    for (let d = 0; d < t.shape.length; d++) last += (t.shape[d]! - 1) * t.stride[d]!;
    if (count > 0 && !(last < t.storage.numel))
      throw bad(
        `${file}: tensor '${shown(name)}' (shape ${t.shape.join("x")}, strides ${t.stride.join(",")}, offset ${t.offset}) reaches beyond its storage ${shown(t.storage.key)} of ${t.storage.numel} elements`,
      );
    if (!floats.has(dtype)) {
      out.set(name, { dtype, shape: t.shape });
      continue;
    }
    // The storage first: reading it earns the allowance its float32 copy may take.
    const raw = storage(t.storage);
    budget.take(4 * count, `tensor '${shown(name)}' (${t.shape.join("x")})`);
    if (count > 0 && (last + 1) * dtypeBytes[dtype] > raw.length)
      throw bad(`${file}: tensor '${shown(name)}' reaches beyond its storage (truncated?)`);
    // Row-major strides: element i is offset + i, without the per-dimension walk.
    let contiguous = true;
    for (let d = t.shape.length - 1, s = 1; d >= 0; s *= t.shape[d]!, d--)
      if (t.shape[d]! > 1 && t.stride[d] !== s) contiguous = false;
    const index = contiguous
      ? (i: number) => t.offset + i
      : (i: number) => {
          let e = t.offset;
          for (let d = t.shape.length - 1; d >= 0; d--) {
            e += (i % t.shape[d]!) * t.stride[d]!;
            i = Math.floor(i / t.shape[d]!);
          }
          return e;
        };
    out.set(name, { dtype, shape: t.shape, data: toFloat32(dtype, raw, index, count) });
  }
  return out;
}

interface ZipEntry {
  readonly name: string;
  readonly flags: number;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly headerOffset: number;
}

/** The central directory, read without inflating anything; zip64 included. */
function zipDirectory(bytes: Uint8Array, file: string): Map<string, ZipEntry | "duplicate"> {
  const damaged = (why: string, truncated = false) =>
    bad(`${file}: a damaged zip archive (${why})${truncated ? "; the file may be truncated" : ""}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number, what: string) => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(bytes.length))
      throw damaged(`${what} ${v} is beyond the file's ${bytes.length} bytes`);
    return Number(v);
  };
  const u64size = (at: number) => {
    const v = view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  };
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--)
    if (u32(at) === 0x06054b50) {
      eocd = at;
      break;
    }
  if (eocd < 0) throw damaged("no end-of-central-directory record", true);
  let count = u16(eocd + 10);
  let dirSize = u32(eocd + 12);
  let dirOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const z = u64(eocd - 12, "the zip64 record offset");
    if (z + 56 > bytes.length || u32(z) !== 0x06064b50)
      throw damaged("the zip64 end-of-central-directory record is missing");
    count = u64(z + 32, "the entry count");
    dirSize = u64(z + 40, "the directory size");
    dirOffset = u64(z + 48, "the directory offset");
  }
  if (dirOffset + dirSize > bytes.length)
    throw damaged(
      `the central directory, ${dirSize} bytes at ${dirOffset}, ends beyond the file's ${bytes.length} bytes`,
      true,
    );
  if (count * 46 > dirSize)
    throw damaged(`${count} entries cannot fit in a ${dirSize}-byte central directory`);
  const names = new TextDecoder();
  const entries = new Map<string, ZipEntry | "duplicate">();
  const end = dirOffset + dirSize;
  for (let i = 0, at = dirOffset; i < count; i++) {
    if (at + 46 > end || u32(at) !== 0x02014b50)
      throw damaged(`central directory entry ${i} is malformed`);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const next = at + 46 + nameLength + extraLength + u16(at + 32);
    if (next > end) throw damaged(`central directory entry ${i} runs past the directory`);
    const name = names.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    let size = u32(at + 24);
    let compressedSize = u32(at + 20);
    let headerOffset = u32(at + 42);
    // Zip64: the 0xffffffff fields, in this order, in extra field 1. Every read stays inside the
    // entry's extra field, itself inside the directory and the file: a field whose length
    // claims more is damaged, not read past.
    const extraEnd = at + 46 + nameLength + extraLength;
    for (let x = at + 46 + nameLength; x + 4 <= extraEnd;) {
      const id = u16(x);
      const length = u16(x + 2);
      const fieldEnd = x + 4 + length;
      if (id === 1) {
        if (fieldEnd > extraEnd)
          throw damaged(
            `entry '${shown(name)}' has a zip64 field of ${length} bytes, but only ${extraEnd - x - 4} of its extra field follow`,
          );
        let p = x + 4;
        const take = (what: string) => {
          if (p + 8 > fieldEnd)
            throw damaged(`entry '${shown(name)}' has a short zip64 field (no ${what} in it)`);
          return ((p += 8), u64size(p - 8));
        };
        if (size === 0xffffffff) size = take("size");
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
        if (headerOffset === 0xffffffff) headerOffset = take("header offset");
      }
      x = fieldEnd;
    }
    const entry = {
      name,
      flags: u16(at + 8),
      method: u16(at + 10),
      compressedSize,
      size,
      headerOffset,
    };
    entries.set(name, entries.has(name) ? "duplicate" : entry);
    at = next;
  }
  return entries;
}

/** Inflates raw deflate data into exactly `size` bytes; refuses a stream that makes more. */
function inflateExactly(data: Uint8Array, size: number, where: string): Uint8Array {
  const out = new Uint8Array(size);
  let n = 0;
  let done = false;
  const bomb = new Error("bomb");
  const inflate = new Inflate((chunk, final) => {
    if (n + chunk.length > size) throw bomb;
    out.set(chunk, n);
    n += chunk.length;
    done ||= final;
  });
  // Small input chunks: each inflates to at most ~16 MiB before the size is checked.
  const step = 16384;
  try {
    for (let at = 0; at < data.length && !done; at += step)
      inflate.push(data.subarray(at, at + step), at + step >= data.length);
  } catch (e) {
    if (e === bomb)
      throw bad(
        `${where} inflates beyond the ${size} bytes its zip directory declares; refused as a zip bomb`,
      );
    throw bad(`${where} is not valid deflate data (${(e as Error).message})`);
  }
  if (!done || n !== size)
    throw bad(
      `${where} inflates to ${n} bytes${done ? "" : " and then stops short"}, not the ${size} its zip directory declares (truncated or damaged?)`,
    );
  return out;
}

/**
 * An entry's bytes, after checking the directory against the local header, the file's extent,
 * `expected` (the size the pickle declares, if any) and `cap`.
 */
function readEntry(
  bytes: Uint8Array,
  entries: Map<string, ZipEntry | "duplicate">,
  name: string,
  file: string,
  expected: { bytes: number; what: string } | undefined,
  cap: { bytes: number; what: string } | undefined,
  budget: Budget | undefined,
): Uint8Array {
  const e = entries.get(name);
  const where = `${file}: zip entry '${shown(name)}'`;
  if (e === undefined) throw bad(`${where} is missing from the archive`);
  if (e === "duplicate") throw bad(`${where} appears twice in the zip directory`);
  if (e.flags & 1) throw bad(`${where} is encrypted`);
  if (e.method !== 0 && e.method !== 8)
    throw bad(
      `${where} uses compression method ${e.method}; csnc reads stored (0) and deflated (8) entries`,
    );
  if (expected && e.size !== expected.bytes)
    throw bad(
      `${where} holds ${e.size} bytes but the pickle declares ${expected.what} (${expected.bytes} bytes)`,
    );
  if (cap && e.size > cap.bytes) throw bad(`${where} declares ${e.size} bytes; ${cap.what}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = e.headerOffset;
  if (h + 30 > bytes.length || view.getUint32(h, true) !== 0x04034b50)
    throw bad(
      `${where}: no local header at offset ${h} of ${bytes.length} bytes (truncated or damaged?)`,
    );
  const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  if (!(start + e.compressedSize <= bytes.length))
    throw bad(
      `${where} claims ${e.compressedSize} bytes from offset ${start}, beyond the end of the file (${bytes.length} bytes; truncated?)`,
    );
  const data = bytes.subarray(start, start + e.compressedSize);
  if (e.method === 0) {
    if (e.compressedSize !== e.size)
      throw bad(
        `${where} is stored uncompressed, yet its zip directory gives ${e.compressedSize} compressed and ${e.size} uncompressed bytes`,
      );
    budget?.earn(e.size);
    return data;
  }
  if (e.size > maxDeflateRatio * e.compressedSize + 64)
    throw bad(
      `${where} claims to inflate ${e.compressedSize} bytes to ${e.size}, more than deflate can (${maxDeflateRatio} to 1); refused as a zip bomb`,
    );
  budget?.earn(e.size, e.compressedSize);
  budget?.take(e.size, `inflating zip entry '${shown(name)}'`);
  return inflateExactly(data, e.size, where);
}

function readZip(bytes: Uint8Array, file: string, budget: Budget): Map<string, Tensor> {
  const entries = zipDirectory(bytes, file);
  const pkl = [...entries.keys()].find((n) => n.endsWith("data.pkl"));
  if (!pkl) throw bad(`${file}: a zip archive without data.pkl: not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, -"data.pkl".length);
  const order = entries.has(`${prefix}byteorder`)
    ? readEntry(
        bytes,
        entries,
        `${prefix}byteorder`,
        file,
        undefined,
        {
          bytes: 16,
          what: "a byte order is 'little' or 'big'",
        },
        undefined,
      )
    : undefined;
  if (order && new TextDecoder().decode(order) !== "little")
    throw bad(
      `${file}: the checkpoint was saved big-endian; csnc reads little-endian checkpoints (re-save it on a little-endian machine)`,
    );
  const pickle = readEntry(
    bytes,
    entries,
    pkl,
    file,
    undefined,
    {
      bytes: maxPickleBytes,
      what: `csnc reads a checkpoint's pickle only up to ${amount(maxPickleBytes)}`,
    },
    undefined,
  );
  const { value } = readPickle(pickle, file);
  const storages = new Map<string, Uint8Array>();
  return tensorsOf(
    stateDict(value, file),
    (ref) => {
      let data = storages.get(ref.key);
      if (!data) {
        const size = ref.numel * dtypeBytes[ref.dtype as DType];
        data = readEntry(
          bytes,
          entries,
          `${prefix}data/${ref.key}`,
          file,
          { bytes: size, what: `storage ${shown(ref.key)} as ${ref.numel} ${ref.dtype} elements` },
          undefined,
          budget,
        );
        storages.set(ref.key, data);
      }
      return data;
    },
    file,
    budget,
  );
}

// Legacy torch.save: pickled magic number, protocol, system info, the object, the storage keys,
// then each storage as an 8-byte element count and its raw bytes, in key order.
const legacyMagic = BigInt("119547037146038801333356");

function readLegacy(bytes: Uint8Array, file: string, budget: Budget): Map<string, Tensor> {
  let at = 0;
  const refs = new Map<string, StorageRef>();
  const next = () => {
    const r = readPickle(bytes, file, at);
    at = r.end;
    for (const [k, v] of r.storages) refs.set(k, v);
    return r.value;
  };
  const magic = next();
  if (magic !== legacyMagic) throw bad(`${file}: not a PyTorch checkpoint (wrong magic number)`);
  next(); // protocol version
  const info = next();
  if (info instanceof Map && info.get("little_endian") === false)
    throw bad(
      `${file}: the checkpoint was saved big-endian; csnc reads little-endian checkpoints (re-save it on a little-endian machine)`,
    );
  const root = next();
  const keys = next();
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string"))
    throw bad(`${file}: the checkpoint's list of storages is not a list of keys`);
  const dict = stateDict(root, file);
  const storages = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys as string[]) {
    const ref = refs.get(key);
    if (!ref)
      throw bad(`${file}: storage ${shown(key)} is listed but the pickle never describes it`);
    if (at + 8 > bytes.length) throw bad(`${file}: ends before storage ${shown(key)} (truncated?)`);
    const numel = view.getBigInt64(at, true);
    at += 8;
    if (numel !== BigInt(ref.numel))
      throw bad(
        `${file}: storage ${shown(key)} holds ${numel} elements but the pickle declares ${ref.numel}`,
      );
    // ref.numel is a safe integer; a size past the file is refused before anything is sliced.
    const size = ref.numel * dtypeBytes[ref.dtype as DType];
    if (at + size > bytes.length)
      throw bad(
        `${file}: storage ${shown(key)} (${size} bytes at offset ${at}) is cut short by the end of the file (${bytes.length} bytes; truncated?)`,
      );
    storages.set(key, bytes.subarray(at, at + size));
    budget.earn(size);
    at += size;
  }
  return tensorsOf(
    dict,
    (ref) => {
      const data = storages.get(ref.key);
      if (!data)
        throw bad(`${file}: storage ${shown(ref.key)} is not among the storages the file holds`);
      return data;
    },
    file,
    budget,
  );
}

export function readCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  if (bytes.length === 0) throw bad(`${file}: the file is empty`);
  const budget = new Budget(file, bytes.length);
  const safetensors = () => {
    const s = readSafetensors(bytes, file);
    return { format: "safetensors", tensors: new Map(s.tensors), metadata: s.metadata } as const;
  };
  // safetensors first: its 8-byte length may begin with any byte, PK or 0x80 included, but its
  // header begins with '{' at byte 8, which neither a zip (a compression method there) nor a
  // legacy checkpoint (inside its magic number) has. Its reader says what else is wrong.
  if (bytes.length >= 9 && bytes[8] === 0x7b) return safetensors();
  if (bytes[0] === 0x50 && bytes[1] === 0x4b)
    return { format: "pytorch-zip", tensors: readZip(bytes, file, budget), metadata: {} };
  if (bytes[0] === 0x80)
    return { format: "pytorch-legacy", tensors: readLegacy(bytes, file, budget), metadata: {} };
  // Named safetensors and with a length that fits: damaged inside, and its reader says how.
  if (
    /\.safetensors$/i.test(file) &&
    bytes.length >= 8 &&
    new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true) <= bytes.length - 8
  )
    return safetensors();
  throw bad(`${file}: neither a PyTorch checkpoint (.pth/.pyth) nor a safetensors file`);
}
