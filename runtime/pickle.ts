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

/** Parses one pickle starting at `start`; returns the value and where it ended. */
export function readPickle(
  bytes: Uint8Array,
  file: string,
  start = 0,
): { value: PickleValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let at = start;
  const fail = (why: string): never => {
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: cannot read the checkpoint's pickle: ${why}`,
    );
  };
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
  const call = (fn: PickleValue, args: PickleValue[]): PickleValue => {
    const name = (fn as { name?: string }).name;
    switch (name) {
      case "collections.OrderedDict":
        return new Map();
      case "torch._utils._rebuild_tensor_v2":
      case "torch._utils._rebuild_tensor": {
        const [storage, offset, shape, stride] = args as [StorageRef, number, number[], number[]];
        if ((storage as StorageRef)?.kind !== "storage") fail("a tensor without a storage");
        return {
          kind: "tensor",
          storage,
          offset: Number(offset),
          shape: (shape as number[]).map(Number),
          stride: (stride as number[]).map(Number),
        };
      }
      case "torch._utils._rebuild_parameter":
        return args[0]!;
      default:
        return fail(`'${name}' cannot be called`);
    }
  };
  const persistent = (pid: PickleValue): PickleValue => {
    const p = pid as PickleValue[];
    if (!Array.isArray(p) || p[0] !== "storage") fail("an unknown persistent id");
    const type = (p[1] as { name?: string }).name?.replace(/^torch\./, "") ?? "";
    const dtype = storageTypes[type];
    if (!dtype) fail(`an unknown storage type ${type}`);
    return { kind: "storage", dtype: dtype!, key: String(p[2]), numel: Number(p[4]) };
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
        return { value: pop(), end: at };
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x71: // BINPUT
        memo.set(u8(), stack.at(-1)!);
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), stack.at(-1)!);
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack.at(-1)!);
        break;
      case 0x68: // BINGET
        stack.push(memo.get(u8()) ?? fail("an unknown memo entry"));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memo.get(u32()) ?? fail("an unknown memo entry"));
        break;
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(str(u8()));
        break;
      case 0x54: // BINSTRING
        stack.push(str(u32()));
        break;
      case 0x43: {
        // SHORT_BINBYTES
        const n = u8();
        need(n);
        stack.push(bytes.slice(at, at + n));
        at += n;
        break;
      }
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
        if (n > 0 && bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        at += n;
        stack.push(Number.isSafeInteger(Number(v)) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        (stack.at(-1) as PickleValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        (stack.at(-1) as PickleValue[]).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        (stack.at(-1) as Map<PickleValue, PickleValue>).set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = stack.at(-1) as Map<PickleValue, PickleValue>;
        if (!(d instanceof Map)) fail("SETITEMS on something that is not a dict");
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop() as string;
        stack.push(global(pop() as string, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop() as PickleValue[];
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop() as PickleValue[];
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: // BUILD: state for an OrderedDict or a parameter; nothing to apply
        pop();
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      default:
        return fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${at - 1}`);
    }
  }
}
