// Reading published checkpoints: PyTorch's zip format (torch.save >= 1.6), its legacy format,
// and safetensors. Float16 and bfloat16 widen to float32; integer counters are kept as such
// (and ignored by the weight loader). State dicts may be bare or nested under `state_dict`,
// `model_state` or `model`.
//
// Nothing a file declares is trusted with memory or time. The zip directory is read first
// (zip.ts), and only data.pkl and the storages the state dict's tensors use are inflated; what
// is unpacked beyond the file itself is budgeted (checkpoint-tensors.ts).
import { amount, Budget, stateDict, tensorsOf } from "./checkpoint-tensors.js";
import { badFile as bad } from "./errors.js";
import { readPickle, type StorageRef } from "./pickle.js";
import { dtypeBytes, readSafetensors, shown, type DType, type Tensor } from "./safetensors.js";
import { ZipArchive } from "./zip.js";

export { Budget } from "./checkpoint-tensors.js";

export interface Checkpoint {
  readonly format: "safetensors" | "pytorch-zip" | "pytorch-legacy";
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The largest data.pkl read: real ones are kilobytes to a few megabytes. */
export const maxPickleBytes = 64 * 2 ** 20;

function readZip(bytes: Uint8Array, file: string, budget: Budget): Map<string, Tensor> {
  const zip = new ZipArchive(bytes, file);
  const pkl = [...zip.names()].find((n) => n.endsWith("data.pkl"));
  if (!pkl) throw bad(`${file}: a zip archive without data.pkl: not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, -"data.pkl".length);
  const order = zip.has(`${prefix}byteorder`)
    ? zip.read(`${prefix}byteorder`, {
        cap: { bytes: 16, what: "a byte order is 'little' or 'big'" },
      })
    : undefined;
  if (order && new TextDecoder().decode(order) !== "little") throw bigEndian(file);
  const pickle = zip.read(pkl, {
    cap: {
      bytes: maxPickleBytes,
      what: `csnc reads a checkpoint's pickle only up to ${amount(maxPickleBytes)}`,
    },
  });
  const { value } = readPickle(pickle, file);
  const storages = new Map<string, Uint8Array>();
  return tensorsOf(
    stateDict(value, file),
    (ref) => {
      let data = storages.get(ref.key);
      if (!data) {
        const size = ref.numel * dtypeBytes[ref.dtype as DType];
        data = zip.read(`${prefix}data/${ref.key}`, {
          expected: {
            bytes: size,
            what: `storage ${shown(ref.key)} as ${ref.numel} ${ref.dtype} elements`,
          },
          budget,
        });
        storages.set(ref.key, data);
      }
      return data;
    },
    file,
    budget,
  );
}

const bigEndian = (file: string) =>
  bad(
    `${file}: the checkpoint was saved big-endian; csnc reads little-endian checkpoints (re-save it on a little-endian machine)`,
  );

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
  if (info instanceof Map && info.get("little_endian") === false) throw bigEndian(file);
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
