// Reading published checkpoints: PyTorch's zip format (torch.save >= 1.6), its legacy format,
// and safetensors. Float16 and bfloat16 widen to float32; integer counters are kept as such
// (and ignored by the weight loader). State dicts may be bare or nested under `state_dict`,
// `model_state` or `model`.
import { unzipSync } from "fflate";
import { CsncError, RuntimeCodes } from "./errors.js";
import { readPickle, type PickleValue, type TensorRef } from "./pickle.js";
import {
  dtypeBytes,
  halfToFloat,
  readSafetensors,
  type DType,
  type Tensor,
} from "./safetensors.js";

export interface Checkpoint {
  readonly format: "safetensors" | "pytorch-zip" | "pytorch-legacy";
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

function toFloat32(
  dtype: string,
  raw: Uint8Array,
  index: (i: number) => number,
  count: number,
): Float32Array | undefined {
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
      case "BF16":
        word.setUint32(0, view.getUint16(2 * e, true) << 16, true);
        out[i] = word.getFloat32(0, true);
        break;
      default:
        return undefined;
    }
  }
  return out;
}

function stateDict(root: PickleValue, file: string): Map<PickleValue, PickleValue> {
  if (!(root instanceof Map))
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: the checkpoint holds no dictionary of tensors`,
    );
  for (const key of ["state_dict", "model_state", "model"]) {
    const inner = root.get(key);
    if (inner instanceof Map) return inner;
  }
  return root;
}

function tensorsOf(
  dict: Map<PickleValue, PickleValue>,
  storage: (key: string) => Uint8Array,
  file: string,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, value] of dict) {
    const t = value as TensorRef;
    if (typeof name !== "string" || t?.kind !== "tensor") continue;
    const raw = storage(t.storage.key);
    const size = dtypeBytes[t.storage.dtype as DType];
    const count = t.shape.reduce((a, b) => a * b, 1);
    // Element index of the i-th value in row-major order, through the tensor's strides.
    const index = (i: number) => {
      let e = t.offset;
      for (let d = t.shape.length - 1; d >= 0; d--) {
        e += (i % t.shape[d]!) * t.stride[d]!;
        i = Math.floor(i / t.shape[d]!);
      }
      return e;
    };
    if (count > 0 && (index(count - 1) + 1) * size > raw.length) {
      throw new CsncError(
        RuntimeCodes.badFile,
        `${file}: tensor '${name}' reaches beyond its storage (truncated?)`,
      );
    }
    out.set(name, {
      dtype: t.storage.dtype as DType,
      shape: t.shape,
      data: toFloat32(t.storage.dtype, raw, index, count),
    });
  }
  return out;
}

function readZip(bytes: Uint8Array, file: string): Map<string, Tensor> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: a damaged zip archive (${(e as Error).message}); the file may be truncated`,
    );
  }
  const pkl = Object.keys(entries).find((n) => n.endsWith("data.pkl"));
  if (!pkl)
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: a zip archive without data.pkl: not a PyTorch checkpoint`,
    );
  const prefix = pkl.slice(0, -"data.pkl".length);
  const { value } = readPickle(entries[pkl]!, file);
  return tensorsOf(
    stateDict(value, file),
    (key) => {
      const data = entries[`${prefix}data/${key}`];
      if (!data)
        throw new CsncError(
          RuntimeCodes.badFile,
          `${file}: storage ${key} is missing from the archive`,
        );
      return data;
    },
    file,
  );
}

// Legacy torch.save: pickled magic number, protocol, system info, the object, the storage keys,
// then each storage as an 8-byte element count and its raw bytes, in key order.
function readLegacy(bytes: Uint8Array, file: string): Map<string, Tensor> {
  let at = 0;
  const next = () => {
    const r = readPickle(bytes, file, at);
    at = r.end;
    return r.value;
  };
  const magic = next();
  if (String(magic) !== "119547037146038801333356")
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: not a PyTorch checkpoint (wrong magic number)`,
    );
  next(); // protocol version
  next(); // system info
  const root = next();
  const keys = next() as PickleValue[];
  const dict = stateDict(root, file);
  const dtypes = new Map<string, string>();
  for (const v of dict.values())
    if ((v as TensorRef)?.kind === "tensor")
      dtypes.set((v as TensorRef).storage.key, (v as TensorRef).storage.dtype);
  const storages = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.map(String)) {
    if (at + 8 > bytes.length)
      throw new CsncError(RuntimeCodes.badFile, `${file}: ends before storage ${key} (truncated?)`);
    const numel = Number(view.getBigInt64(at, true));
    const size = numel * (dtypeBytes[(dtypes.get(key) ?? "F32") as DType] ?? 4);
    at += 8;
    if (at + size > bytes.length)
      throw new CsncError(
        RuntimeCodes.badFile,
        `${file}: storage ${key} is cut short (truncated?)`,
      );
    storages.set(key, bytes.subarray(at, at + size));
    at += size;
  }
  return tensorsOf(dict, (key) => storages.get(key) ?? new Uint8Array(0), file);
}

export function readCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  if (bytes.length === 0) throw new CsncError(RuntimeCodes.badFile, `${file}: the file is empty`);
  // safetensors first: its 8-byte length may begin with any byte, PK or 0x80 included.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length >= 9 &&
    bytes[8] === 0x7b &&
    Number(view.getBigUint64(0, true)) <= bytes.length - 8
  ) {
    const s = readSafetensors(bytes, file);
    return { format: "safetensors", tensors: new Map(s.tensors), metadata: s.metadata };
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b)
    return { format: "pytorch-zip", tensors: readZip(bytes, file), metadata: {} };
  if (bytes[0] === 0x80)
    return { format: "pytorch-legacy", tensors: readLegacy(bytes, file), metadata: {} };
  throw new CsncError(
    RuntimeCodes.badFile,
    `${file}: neither a PyTorch checkpoint (.pth/.pyth) nor a safetensors file`,
  );
}
