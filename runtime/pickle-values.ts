// The values a PyTorch pickle builds: plain Python values, the storages torch.save names by
// persistent id, and the tensor views over them.

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

/** A size, offset or count: a non-negative safe integer. */
export const isCount = (v: PickleValue | undefined): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
