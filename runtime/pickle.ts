// A restricted reader for the pickles inside PyTorch checkpoints. It never executes or imports
// anything: it understands the opcodes torch.save writes and builds plain values; a global is
// allowed only if PyTorch's weights-only loader would allow it (tensor and storage rebuilders,
// OrderedDict, plain containers), and any other global is refused by name.
import { CsncError, RuntimeCodes } from "./errors.js";

/** A reference to a storage (torch's persistent id), resolved by the checkpoint reader. */
export interface StorageRef {
  readonly kind: "storage";
  readonly dtype: string;
  readonly key: string;
  readonly numel: number;
}

/** A tensor as the pickle describes it: a view into a storage. */
export interface TensorRef {
  readonly kind: "tensor";
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | StorageRef
  | TensorRef
  | { readonly kind: "global"; readonly name: string };

const storageTypes: Record<string, string> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

// What the weights-only loader accepts that checkpoints of these networks use.
const allowed = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_parameter",
  "torch.storage.UntypedStorage",
  ...Object.keys(storageTypes).map((s) => `torch.${s}`),
]);

/**
 * At most this many values and memo entries per pickle (a dict counts 4: it is the heaviest).
 * A checkpoint's pickle builds a few dozen per tensor; without a cap, 64 MiB of one-byte
 * EMPTY_DICT opcodes would build 64 million dicts and exhaust the heap.
 */
export const maxPickleValues = 4_000_000;

/** A short, safe description of a pickled value for messages (no recursion into big values). */
export function describe(v: PickleValue | undefined, depth = 0): string {
  if (v === undefined) return "nothing";
  if (v === null) return "None";
  if (typeof v === "bigint") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v);
  if (typeof v !== "object") return String(v);
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (Array.isArray(v)) {
    if (depth > 1) return `(${v.length} values)`;
    const shown = v.slice(0, 8).map((x) => describe(x, depth + 1));
    return `(${shown.join(", ")}${v.length > 8 ? ", ..." : ""})`;
  }
  return v.kind === "global" ? v.name : `a ${v.kind}`;
}

const isCount = (v: PickleValue | undefined): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses one pickle starting at `start`; returns the value, where it ended and every storage its
 * persistent ids name, by key.
 */
export function readPickle(
  bytes: Uint8Array,
  file: string,
  start = 0,
): { value: PickleValue; end: number; storages: ReadonlyMap<string, StorageRef> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  const storages = new Map<string, StorageRef>();
  let at = start;
  let built = 0;
  const fail = (why: string): never => {
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: cannot read the checkpoint's pickle: ${why}`,
    );
  };
  const grow = (cost: number) => {
    if ((built += cost) > maxPickleValues)
      fail(
        `it builds more than ${maxPickleValues} values (a checkpoint's pickle needs a few dozen per tensor)`,
      );
  };
  const push = (v: PickleValue) => {
    grow(v instanceof Map ? 4 : 1);
    stack.push(v);
  };
  const top = () => (stack.length ? stack.at(-1)! : fail("the stack is empty"));
  const remember = (key: number) => {
    grow(1);
    memo.set(key, top());
  };
  const recall = (key: number) => (memo.has(key) ? memo.get(key)! : fail("an unknown memo entry"));
  const need = (n: number) => {
    if (at + n > bytes.length) fail("it ends too early (truncated?)");
  };
  const u8 = () => (need(1), bytes[at++]!);
  const u16 = () => (need(2), (at += 2), view.getUint16(at - 2, true));
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const i32 = () => (need(4), (at += 4), view.getInt32(at - 4, true));
  const str = (n: number) => (need(n), (at += n), text.decode(bytes.subarray(at - n, at)));
  const line = () => {
    const end = bytes.indexOf(10, at);
    if (end < 0) fail("it ends too early (truncated?)");
    const s = text.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail("a MARK is missing");
    return stack.splice(m!);
  };
  const pop = () => (stack.length ? stack.pop()! : fail("the stack is empty"));
  const list = () => {
    const l = top();
    return Array.isArray(l) ? l : fail(`APPEND to ${describe(l)}, which is not a list`);
  };
  const dict = (op: string) => {
    const d = top();
    return d instanceof Map ? d : fail(`${op} on ${describe(d)}, which is not a dict`);
  };
  const global = (module: string, name: string): PickleValue => {
    const full = `${module}.${name}`;
    if (!allowed.has(full)) {
      throw new CsncError(
        RuntimeCodes.badFile,
        `${file}: refused: the checkpoint's pickle asks for the global '${full}', which is not a tensor, a storage or a plain container (nothing was executed)`,
      );
    }
    return { kind: "global", name: full };
  };
  const call = (fn: PickleValue, args: PickleValue): PickleValue => {
    const name =
      fn !== null && typeof fn === "object" && "kind" in fn && fn.kind === "global"
        ? fn.name
        : undefined;
    if (name === undefined) return fail(`${describe(fn)} cannot be called`);
    if (!Array.isArray(args)) return fail(`${name} is called with ${describe(args)}, not a tuple`);
    switch (name) {
      case "collections.OrderedDict":
        return new Map();
      case "torch._utils._rebuild_tensor_v2":
      case "torch._utils._rebuild_tensor": {
        const [storage, offset, shape, stride] = args;
        if ((storage as StorageRef | undefined)?.kind !== "storage")
          fail("a tensor without a storage");
        if (!isCount(offset)) fail(`a tensor with the storage offset ${describe(offset)}`);
        const dims = (v: PickleValue | undefined): v is number[] =>
          Array.isArray(v) && v.length <= 32 && v.every(isCount);
        if (!dims(shape)) fail(`a tensor with the shape ${describe(shape)}`);
        if (!dims(stride) || stride.length !== (shape as number[]).length)
          fail(`a tensor of shape ${describe(shape)} with the strides ${describe(stride)}`);
        return {
          kind: "tensor",
          storage: storage as StorageRef,
          offset: offset as number,
          shape: shape as number[],
          stride: stride as number[],
        };
      }
      case "torch._utils._rebuild_parameter":
        if ((args[0] as TensorRef | undefined)?.kind !== "tensor")
          fail(`a parameter made of ${describe(args[0])}, not a tensor`);
        return args[0]!;
      default:
        return fail(`'${name}' cannot be called`);
    }
  };
  const persistent = (pid: PickleValue): PickleValue => {
    // torch.save's persistent id: ("storage", storage type, key, location, numel[, view]).
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5)
      return fail(`an unknown persistent id ${describe(pid)}`);
    const [, cls, key, , numel] = pid;
    const type =
      cls !== null && typeof cls === "object" && "kind" in cls && cls.kind === "global"
        ? cls.name.replace(/^torch\./, "")
        : describe(cls);
    const dtype = storageTypes[type];
    if (!dtype) fail(`an unknown storage type ${type}`);
    if (typeof key !== "string" || key.length > 256)
      fail(`a storage whose key is ${describe(key)}`);
    if (!isCount(numel)) fail(`storage ${describe(key)} with ${describe(numel)} elements`);
    const ref: StorageRef = {
      kind: "storage",
      dtype: dtype!,
      key: key as string,
      numel: numel as number,
    };
    const seen = storages.get(ref.key);
    if (seen && (seen.dtype !== ref.dtype || seen.numel !== ref.numel))
      fail(
        `storage ${ref.key} is described twice: ${seen.numel} ${seen.dtype} and ${ref.numel} ${ref.dtype} elements`,
      );
    storages.set(ref.key, seen ?? ref);
    return seen ?? ref;
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        need(8);
        at += 8;
        break;
      case 0x2e: // STOP
        return { value: pop(), end: at, storages };
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push([]);
        break;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x71: // BINPUT
        remember(u8());
        break;
      case 0x72: // LONG_BINPUT
        remember(u32());
        break;
      case 0x94: // MEMOIZE
        remember(memo.size);
        break;
      case 0x68: // BINGET
        push(recall(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(recall(u32()));
        break;
      case 0x58: // BINUNICODE
        push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(u8()));
        break;
      case 0x55: // SHORT_BINSTRING
        push(str(u8()));
        break;
      case 0x54: // BINSTRING
        push(str(u32()));
        break;
      case 0x43: {
        // SHORT_BINBYTES
        const n = u8();
        need(n);
        push(bytes.slice(at, at + n));
        at += n;
        break;
      }
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x8a: {
        // LONG1
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
        if (n > 0 && bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        at += n;
        push(Number.isSafeInteger(Number(v)) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x74: // TUPLE
        push(popMark());
        break;
      case 0x85: // TUPLE1
        push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        list().push(v);
        break;
      }
      case 0x65: {
        // APPENDS (a loop: spreading a million items would overflow the call stack)
        const items = popMark();
        const l = list();
        for (const v of items) l.push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        dict("SETITEM").set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = dict("SETITEMS");
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== "string" || typeof module !== "string")
          fail(`a global named by ${describe(module)} and ${describe(name)}`);
        push(global(module as string, name as string));
        break;
      }
      case 0x52: // REDUCE
      case 0x81: {
        // NEWOBJ
        const args = pop();
        push(call(pop(), args));
        break;
      }
      case 0x62: // BUILD: state for an OrderedDict or a parameter; nothing to apply
        pop();
        break;
      case 0x51: // BINPERSID
        push(persistent(pop()));
        break;
      default:
        return fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${at - 1}`);
    }
  }
}
