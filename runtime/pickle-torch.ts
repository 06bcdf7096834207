// What a PyTorch pickle may ask of Python, and what it gets: the globals PyTorch's weights-only
// loader allows (tensor and storage rebuilders, OrderedDict), the calls that build tensors, and
// the persistent ids that name storages. Any other global is refused by name; nothing runs.
import { badFile } from "./errors.js";
import type { PickleMachine } from "./pickle-machine.js";
import {
  describe,
  isCount,
  type PickleValue,
  type StorageRef,
  type TensorRef,
} from "./pickle-values.js";

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

/** GLOBAL and STACK_GLOBAL: a reference to an allowed global, or a refusal naming it. */
export function global(m: PickleMachine, module: string, name: string): PickleValue {
  const full = `${module}.${name}`;
  if (!allowed.has(full)) {
    throw badFile(
      `${m.file}: refused: the checkpoint's pickle asks for the global '${full}', which is not a tensor, a storage or a plain container (nothing was executed)`,
    );
  }
  return { kind: "global", name: full };
}

/** What REDUCE and NEWOBJ build: an allowed global called with a tuple. */
export function call(m: PickleMachine, fn: PickleValue, args: PickleValue): PickleValue {
  const name =
    fn !== null && typeof fn === "object" && "kind" in fn && fn.kind === "global"
      ? fn.name
      : undefined;
  if (name === undefined) return m.fail(`${describe(fn)} cannot be called`);
  if (!Array.isArray(args)) return m.fail(`${name} is called with ${describe(args)}, not a tuple`);
  switch (name) {
    case "collections.OrderedDict":
      return new Map();
    case "torch._utils._rebuild_tensor_v2":
    case "torch._utils._rebuild_tensor": {
      const [storage, offset, shape, stride] = args;
      if ((storage as StorageRef | undefined)?.kind !== "storage")
        m.fail("a tensor without a storage");
      if (!isCount(offset)) m.fail(`a tensor with the storage offset ${describe(offset)}`);
      const dims = (v: PickleValue | undefined): v is number[] =>
        Array.isArray(v) && v.length <= 32 && v.every(isCount);
      if (!dims(shape)) m.fail(`a tensor with the shape ${describe(shape)}`);
      if (!dims(stride) || stride.length !== (shape as number[]).length)
        m.fail(`a tensor of shape ${describe(shape)} with the strides ${describe(stride)}`);
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
        m.fail(`a parameter made of ${describe(args[0])}, not a tensor`);
      return args[0]!;
    default:
      return m.fail(`'${name}' cannot be called`);
  }
}

/** The storage a persistent id names; one key described twice must agree. */
export function persistent(m: PickleMachine, pid: PickleValue): PickleValue {
  // torch.save's persistent id: ("storage", storage type, key, location, numel[, view]).
  if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5)
    return m.fail(`an unknown persistent id ${describe(pid)}`);
  const [, cls, key, , numel] = pid;
  const type =
    cls !== null && typeof cls === "object" && "kind" in cls && cls.kind === "global"
      ? cls.name.replace(/^torch\./, "")
      : describe(cls);
  const dtype = storageTypes[type];
  if (!dtype) m.fail(`an unknown storage type ${type}`);
  if (typeof key !== "string" || key.length > 256)
    m.fail(`a storage whose key is ${describe(key)}`);
  if (!isCount(numel)) m.fail(`storage ${describe(key)} with ${describe(numel)} elements`);
  const ref: StorageRef = {
    kind: "storage",
    dtype: dtype!,
    key: key as string,
    numel: numel as number,
  };
  const seen = m.storages.get(ref.key);
  if (seen && (seen.dtype !== ref.dtype || seen.numel !== ref.numel))
    m.fail(
      `storage ${ref.key} is described twice: ${seen.numel} ${seen.dtype} and ${ref.numel} ${ref.dtype} elements`,
    );
  m.storages.set(ref.key, seen ?? ref);
  return seen ?? ref;
}
