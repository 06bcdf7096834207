// The training program: a network's forward pass in training mode, the softmax cross-entropy,
// the backward pass and the optimizer, as WGSL steps over planned buffers. Plain JSON, like a
// Plan: the runtime binds and dispatches it and derives nothing.

/** What a logical buffer holds; decides whether it lives across steps or shares a slot. */
export type TrainBufferKind =
  /** The clip [N,3,T,H,W], written by the host each step. */
  | "input"
  /** Class indices [N] as u32, written by the host. */
  | "labels"
  /** A forward value (saved for backward or not: its lifetime says). */
  | "activation"
  /** The gradient of a forward value (of the pre-ReLU value where the value is a ReLU output). */
  | "gradient"
  /** Per-channel mean and 1/sqrt(var + eps) of a BN, or max-pool argmax indices. */
  | "saved"
  /** Trainable tensors, their gradients and SGD momentum buffers. */
  | "param"
  | "param-grad"
  | "momentum"
  /** BN running mean and variance, [2C]: updated in training mode, read in evaluation. */
  | "running"
  /** [loss, correct predictions, non-finite flag (u32 bits)], written by the loss and checks. */
  | "loss"
  /** The logits [N, classes]: read back after a step. */
  | "logits";

export const persistentKinds: ReadonlySet<TrainBufferKind> = new Set([
  "input",
  "labels",
  "param",
  "param-grad",
  "momentum",
  "running",
  "loss",
  "logits",
]);

export interface TrainBuffer {
  readonly id: number;
  /** For humans and errors: `res2.0.conv_a out`, `grad res2.0.conv_a out`, `res2.0.conv_a.weight`. */
  readonly name: string;
  readonly kind: TrainBufferKind;
  /** Elements of 4 bytes (f32 or u32). */
  readonly elements: number;
  /** The physical buffer (memory plan): logical buffers with disjoint lifetimes share one. */
  readonly slot: number;
}

export interface TrainKernel {
  /** Family and shape for humans and profiles, e.g. `conv-backward-weight 16x16x1x1x1`. */
  readonly name: string;
  /** Identifies the WGSL (pipelines are cached by it). */
  readonly key: string;
  readonly wgsl: string;
  readonly dispatch: readonly [number, number, number];
  /** Storage bindings (0..n-1); whether each is written. */
  readonly access: readonly ("read" | "write")[];
  /** Binds the step's hyper-parameters (`Hyper`) as uniform binding n. */
  readonly hyper: boolean;
  /** Multiply-adds x 2, for profiles. */
  readonly flops: number;
}

export type TrainPhase = "forward" | "loss" | "backward" | "update";

export interface TrainStep {
  readonly phase: TrainPhase;
  /** The layer path the step belongs to (`loss` and `sgd` name their own). */
  readonly layer: string;
  readonly kernel: TrainKernel;
  /** Logical buffer ids, in binding order. */
  readonly buffers: readonly number[];
}

/** A trainable tensor, under its csnc name (`res2.0.conv_a.weight`, `stem.bn.bias`, `head.fc.weight`). */
export interface TrainParam {
  readonly name: string;
  readonly layer: string;
  readonly shape: readonly number[];
  readonly buffer: number;
  /** Absent for a frozen parameter whose gradient nothing computes. */
  readonly grad?: number;
  readonly momentum?: number;
  readonly frozen: boolean;
}

export interface TrainRunning {
  /** The BN layer path: its tensors are `<layer>.running_mean` and `<layer>.running_var`. */
  readonly layer: string;
  readonly channels: number;
  /** [running_mean (C), running_var (C)]. */
  readonly buffer: number;
}

export interface TrainProgram {
  readonly model: string;
  readonly batch: number;
  /** C, T, H, W of one clip. */
  readonly clip: readonly [number, number, number, number];
  readonly classes: number;
  /** The fc layer that writes the logits, if one does (fine-tuning re-initialises it). */
  readonly classifier?: string;
  readonly buffers: readonly TrainBuffer[];
  /** Bytes of each physical buffer. */
  readonly slots: readonly number[];
  readonly steps: readonly TrainStep[];
  readonly params: readonly TrainParam[];
  readonly running: readonly TrainRunning[];
  readonly input: number;
  readonly labels: number;
  readonly loss: number;
  readonly logits: number;
  /** Bytes of the activations, gradients and saved statistics live at once (the plan's peak). */
  readonly transientBytes: number;
  /** Bytes of those buffers without sharing, for comparison. */
  readonly unsharedBytes: number;
}

/**
 * The uniform every `hyper` kernel reads, written by the host before each submit. WGSL and the
 * host layout both come from this one list (f32 or u32 each, in order).
 */
export const hyperFields = [
  ["lr", "f32"],
  ["momentum", "f32"],
  ["weightDecay", "f32"],
  /** 1 in training mode (batch statistics, dropout on), 0 to evaluate. */
  ["train", "u32"],
  ["seed", "u32"],
  ["step", "u32"],
  ["pad0", "u32"],
  ["pad1", "u32"],
] as const;

export type HyperField = (typeof hyperFields)[number][0];

export const hyperWgsl = `struct Hyper { ${hyperFields.map(([n, t]) => `${n}: ${t}`).join(", ")} }`;

/** The uniform's bytes for the given values (absent fields are 0). */
export function hyperBytes(values: Partial<Record<HyperField, number>>): ArrayBuffer {
  const bytes = new ArrayBuffer(4 * hyperFields.length);
  const f = new Float32Array(bytes);
  const u = new Uint32Array(bytes);
  hyperFields.forEach(([name, type], i) => {
    const v = values[name] ?? 0;
    if (type === "f32") f[i] = v;
    else u[i] = v >>> 0;
  });
  return bytes;
}
