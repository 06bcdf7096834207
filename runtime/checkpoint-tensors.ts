// From a pickled state dict to float32 tensors: each tensor view checked against its storage
// before the storage is touched, float16 and bfloat16 widened, and every byte unpacked beyond
// the file itself counted against a budget the file's own bytes earn.
import { badFile as bad } from "./errors.js";
import type { PickleValue, StorageRef, TensorRef } from "./pickle.js";
import { dtypeBytes, halfToFloat, shown, type DType, type Tensor } from "./safetensors.js";

export const MiB = 2 ** 20;
/** A size for messages: bytes below a MiB, else MiB. */
export const amount = (n: number) => (n < MiB ? `${n} bytes` : `${+(n / MiB).toFixed(1)} MiB`);

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

/** The state dict of a checkpoint: bare, or nested under `state_dict`, `model_state` or `model`. */
export function stateDict(root: PickleValue, file: string): Map<PickleValue, PickleValue> {
  if (!(root instanceof Map)) throw bad(`${file}: the checkpoint holds no dictionary of tensors`);
  for (const key of ["state_dict", "model_state", "model"]) {
    const inner = root.get(key);
    if (inner instanceof Map) return inner;
  }
  return root;
}

const floats = new Set<string>(["F32", "F64", "F16", "BF16"]);

/** The dict's tensors by name; `storage` gives the bytes of a storage the first time it is needed. */
export function tensorsOf(
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
