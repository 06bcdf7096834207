// The execution plan: the dispatch list with kernels, the tensors with their lifetimes, the
// buffers they share, and what each layer's weights must become at load time. Plain JSON data:
// the runtime executes it and `csnc compile` writes it out.
import type { InferenceGraph, InferenceNode } from "./inference.js";
import type { Triple } from "./ir.js";
import {
  GridError,
  type BindingRole,
  type KernelLimits,
  type TextureShape,
} from "./kernels/common.js";
import type { ActivationTexture } from "./kernels/texture.js";
import {
  channelsFirstInput,
  clipAsTexture,
  convVariant,
  selectKernel,
  type ConvVariant,
} from "./kernels/select.js";
import type { Tuning } from "./kernels/tuning.js";

/** How one step's weights are built from the checkpoint's tensors (names are layer paths). */
export type WeightSpec =
  | {
      readonly kind: "conv";
      readonly layout: ConvVariant;
      readonly path: string;
      readonly cout: number;
      readonly cinPerGroup: number;
      readonly kernel: Triple;
      readonly bias: boolean;
      readonly bn?: { readonly path: string; readonly eps: number };
      /** Whether the packed buffer ends with a bias (a conv bias or a folded BN). */
      readonly packedBias: boolean;
    }
  | {
      readonly kind: "fc";
      readonly path: string;
      readonly outFeatures: number;
      /** The input's C, T, H, W: weights are re-laid out to the channels-last flatten order. */
      readonly input: readonly [number, number, number, number];
      readonly bias: boolean;
    }
  | {
      readonly kind: "affine";
      readonly path: string;
      readonly eps: number;
      readonly channels: number;
    };

export interface PlanTensor {
  readonly id: number;
  readonly path: string;
  /** Logical N, C, T, H, W; stored channels-last. */
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly buffer: number;
  /** Dispatch index that writes it (-1: the input) and the last one that reads it. */
  readonly def: number;
  readonly lastUse: number;
}

/**
 * A tensor's buffer, a layer's weights (a buffer, or a texture where the weights say so), or a
 * texture of `Plan.textures`.
 */
export type PlanBinding =
  { readonly tensor: number } | { readonly weights: number } | { readonly texture: number };

/**
 * A texture the runtime makes: the clip, or a staging copy of activations for texture kernels,
 * each H x W plane inside a zero border of `pad` (see compiler/kernels/texture.ts).
 */
export interface PlanTexture extends ActivationTexture {
  readonly id: number;
  readonly purpose: "clip" | "staging";
}

export interface PlanDispatch {
  readonly path: string;
  readonly layers: readonly string[];
  readonly kernel: string;
  readonly shader: number;
  readonly workgroups: readonly [number, number, number];
  readonly bindings: readonly PlanBinding[];
  /** Before this dispatch, copy the tensor's buffer into the staging texture, plane by plane inside its border. */
  readonly stage?: { readonly tensor: number; readonly texture: number };
  readonly flops: number;
  readonly bytes: number;
}

export interface Plan {
  readonly model: string;
  /**
   * `ncthw`: the clip is uploaded as given (its readers index it channels-first); `nthwc`:
   * transposed; `texture`: packed by the host into `texture` (see `clipTexture`, texture.ts).
   */
  readonly input: {
    readonly tensor: number;
    readonly shape: readonly number[];
    readonly layout: "ncthw" | "nthwc" | "texture";
    readonly texture?: number;
  };
  readonly logits: { readonly tensor: number; readonly shape: readonly number[] };
  readonly probabilities: { readonly tensor: number; readonly shape: readonly number[] };
  readonly tensors: readonly PlanTensor[];
  readonly buffers: readonly { readonly id: number; readonly bytes: number }[];
  /** Uploaded as a texture of Cout/4 texels a row (the packed layout's rows) where set. */
  readonly weights: readonly (WeightSpec & {
    readonly bytes: number;
    readonly texture?: TextureShape;
  })[];
  readonly textures: readonly PlanTexture[];
  readonly dispatches: readonly PlanDispatch[];
  readonly shaders: readonly string[];
  readonly memory: {
    /** Sum of the activation buffers. */
    readonly activationBytes: number;
    /** The largest set of simultaneously live tensors: no plan can use less. */
    readonly lowerBoundBytes: number;
    readonly weightBytes: number;
    /** The clip and staging textures. */
    readonly textureBytes: number;
  };
}

/** A plan that cannot run on the device's limits; the message says which layer and what to change. */
export class PlanError extends Error {}

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function weightSpec(node: InferenceNode, input: InferenceNode): WeightSpec | undefined {
  const op = node.op;
  if (op.kind === "conv") {
    return {
      kind: "conv",
      layout: convVariant(op.conv, input.shape[1]),
      path: node.path,
      cout: op.conv.outChannels,
      cinPerGroup: input.shape[1] / op.conv.groups,
      kernel: op.conv.kernel,
      bias: op.conv.bias,
      bn: op.bn,
      packedBias: op.conv.bias || op.bn !== undefined,
    };
  }
  if (op.kind === "fc") {
    const [, c, t, h, w] = input.shape;
    return {
      kind: "fc",
      path: node.path,
      outFeatures: op.outFeatures,
      input: [c, t, h, w],
      bias: op.bias,
    };
  }
  if (op.kind === "bn")
    return { kind: "affine", path: node.path, eps: op.eps, channels: node.shape[1] };
  return undefined;
}

function weightFloats(w: WeightSpec): number {
  switch (w.kind) {
    case "conv":
      return (
        w.cout * w.cinPerGroup * w.kernel[0] * w.kernel[1] * w.kernel[2] +
        (w.packedBias ? w.cout : 0)
      );
    case "fc":
      return w.outFeatures * elements(w.input) + (w.bias ? w.outFeatures : 0);
    case "affine":
      return 2 * w.channels;
  }
}

export function buildPlan(g: InferenceGraph, limits: KernelLimits, tuning: Tuning = {}): Plan {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const steps = g.nodes.filter((n) => n.op.kind !== "input");
  const inputNode = g.nodes.find((n) => n.op.kind === "input")!;

  // Tensors and lifetimes, in dispatch indices.
  const def = new Map<number, number>([[inputNode.id, -1]]);
  const lastUse = new Map<number, number>();
  steps.forEach((n, i) => {
    def.set(n.id, i);
    for (const x of n.inputs) lastUse.set(x, i);
  });
  for (const out of [g.logits, g.probabilities]) lastUse.set(out, steps.length);
  // A clip uploaded as a texture never touches its buffer: free it from the start.
  const inputTexture = clipAsTexture(g, limits, tuning);
  if (inputTexture) lastUse.set(inputNode.id, -1);
  const tensorNodes = g.nodes;
  for (const n of tensorNodes) {
    const bytes = 4 * elements(n.shape);
    if (bytes > limits.maxStorageBufferBindingSize || bytes > limits.maxBufferSize) {
      const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
      throw new PlanError(
        `layer ${n.path} produces ${n.shape.join("x")} (${(bytes / 2 ** 20).toFixed(1)} MiB), above the device's largest storage buffer (${(limit / 2 ** 20).toFixed(0)} MiB): use a smaller --input or --batch`,
      );
    }
  }

  // Greedy by size: the largest tensors claim buffers first; a later tensor reuses the smallest
  // buffer none of whose tensors is live at the same time.
  const order = [...tensorNodes].sort(
    (a, b) => elements(b.shape) - elements(a.shape) || a.id - b.id,
  );
  // A buffer's intervals are disjoint, kept sorted by start: a binary search finds the only one
  // that can overlap a span, and where a new one goes (then one splice), so each tensor costs a
  // search per buffer rather than a scan of every interval.
  const buffers: { bytes: number; starts: number[]; ends: number[] }[] = [];
  /** The number of intervals of `b` starting at or before `x`. */
  const startsUpTo = (b: { starts: number[] }, x: number) => {
    let lo = 0;
    let hi = b.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b.starts[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const overlaps = (b: { starts: number[]; ends: number[] }, s: number, e: number) => {
    // The last interval starting at or before e overlaps [s, e] iff it ends at or after s.
    const k = startsUpTo(b, e);
    return k > 0 && b.ends[k - 1]! >= s;
  };
  const bufferOf = new Map<number, number>();
  for (const n of order) {
    const span: [number, number] = [def.get(n.id)!, lastUse.get(n.id) ?? def.get(n.id)!];
    let best = -1;
    buffers.forEach((b, i) => {
      const free = !overlaps(b, span[0], span[1]);
      if (free && (best < 0 || b.bytes < buffers[best]!.bytes)) best = i;
    });
    if (best < 0) {
      best = buffers.length;
      buffers.push({ bytes: 4 * elements(n.shape), starts: [], ends: [] });
    }
    const b = buffers[best]!;
    const at = startsUpTo(b, span[0]);
    b.starts.splice(at, 0, span[0]);
    b.ends.splice(at, 0, span[1]);
    bufferOf.set(n.id, best);
  }
  const tensors: PlanTensor[] = tensorNodes.map((n) => ({
    id: n.id,
    path: n.path,
    shape: n.shape,
    bytes: 4 * elements(n.shape),
    buffer: bufferOf.get(n.id)!,
    def: def.get(n.id)!,
    lastUse: lastUse.get(n.id) ?? def.get(n.id)!,
  }));
  // Live bytes at each dispatch i in -1..steps, as a prefix sum of +bytes at def, -bytes after
  // the last use (one pass, not a filter over every tensor per dispatch).
  const delta = new Float64Array(steps.length + 3);
  for (const t of tensors) {
    if (t.lastUse < t.def) continue;
    delta[t.def + 1] += t.bytes;
    delta[t.lastUse + 2] -= t.bytes;
  }
  let lowerBound = 0;
  for (let i = 0, live = 0; i < steps.length + 2; i++) {
    live += delta[i]!;
    lowerBound = Math.max(lowerBound, live);
  }

  const inputFirst = channelsFirstInput(g, tuning);
  const shaders: string[] = [];
  const shaderIndex = new Map<string, number>();
  const weights: (WeightSpec & { bytes: number; texture?: TextureShape })[] = [];
  const textures: PlanTexture[] = [];
  const kernels = steps.map((n) => {
    try {
      return selectKernel(n, byId.get(n.inputs[0]!), limits, tuning, inputFirst, inputTexture);
    } catch (e) {
      // A dispatch past the grid is a plan the device cannot run, not an internal error.
      if (!(e instanceof GridError)) throw e;
      throw new PlanError(
        `layer ${n.path} (${n.shape.join("x")}): ${e.message}: use a smaller --input or --batch`,
      );
    }
  });
  if (inputTexture) {
    const reader = kernels.find((_, i) => steps[i]!.inputs[0] === inputNode.id)!;
    textures.push({ id: 0, purpose: "clip", ...reader.textures!.input! });
  }
  // A staged tensor keeps its texture until its last texture reader, so a tensor read by two
  // kernels (a block's input: the first conv and the projection) is copied once. Textures of
  // one size are reused once free.
  const lastTextureRead = new Map<number, number>();
  kernels.forEach((k, i) => {
    if (k.textures?.input) lastTextureRead.set(steps[i]!.inputs[0]!, i);
  });
  const staging: { id: number; key: string; holds: number; until: number }[] = [];
  const stageInput = (tensor: number, shape: ActivationTexture, at: number) => {
    const key = `${shape.width}x${shape.height}, border ${shape.pad.join("x")}`;
    const held = staging.find((s) => s.holds === tensor && s.until >= at);
    if (held) return { texture: held.id, copy: false };
    let s = staging.find((s) => s.key === key && s.until < at);
    if (!s) {
      s = { id: textures.length, key, holds: -1, until: -1 };
      textures.push({ id: s.id, purpose: "staging", ...shape });
      staging.push(s);
    }
    s.holds = tensor;
    s.until = lastTextureRead.get(tensor)!;
    return { texture: s.id, copy: true };
  };
  const dispatches: PlanDispatch[] = steps.map((n, at) => {
    const kernel = kernels[at]!;
    if (kernel.bindings.length > limits.maxStorageBuffersPerShaderStage) {
      throw new PlanError(
        `kernel ${kernel.name} for ${n.path} needs ${kernel.bindings.length} storage buffers; the device allows ${limits.maxStorageBuffersPerShaderStage}`,
      );
    }
    let shader = shaderIndex.get(kernel.wgsl);
    if (shader === undefined) {
      shader = shaders.length;
      shaders.push(kernel.wgsl);
      shaderIndex.set(kernel.wgsl, shader);
    }
    const spec = weightSpec(n, byId.get(n.inputs[0]!)!);
    let weightId = -1;
    if (spec) {
      weightId = weights.length;
      const bytes = 4 * weightFloats(spec);
      if (bytes > limits.maxStorageBufferBindingSize) {
        throw new PlanError(
          `the weights of ${n.path} take ${(bytes / 2 ** 20).toFixed(1)} MiB, above the device's largest storage buffer`,
        );
      }
      const texture = kernel.textures?.weights;
      if (texture && texture.width * texture.height * 16 !== bytes)
        throw new Error(`csnc bug: the weight texture of ${n.path} does not match its packing`);
      weights.push({ ...spec, bytes, ...(texture ? { texture } : {}) });
    }
    let stage: PlanDispatch["stage"];
    let inputBinding: PlanBinding = { tensor: n.inputs[0]! };
    if (kernel.textures?.input) {
      if (n.inputs[0] === inputNode.id && inputTexture) {
        inputBinding = { texture: 0 };
      } else {
        const staged = stageInput(n.inputs[0]!, kernel.textures.input, at);
        inputBinding = { texture: staged.texture };
        if (staged.copy) stage = { tensor: n.inputs[0]!, texture: staged.texture };
      }
    }
    const bind = (role: BindingRole): PlanBinding => {
      switch (role) {
        case "input":
          return inputBinding;
        case "residual":
          return { tensor: n.inputs[1]! };
        case "output":
          return { tensor: n.id };
        case "weights":
          return { weights: weightId };
      }
    };
    return {
      path: n.path,
      layers: n.layers,
      kernel: kernel.name,
      shader,
      workgroups: kernel.dispatch,
      bindings: kernel.bindings.map(bind),
      ...(stage ? { stage } : {}),
      flops: kernel.flops,
      bytes: kernel.bytes,
    };
  });

  const logitsShape = byId.get(g.logits)!.shape;
  const classes = elements(logitsShape) / logitsShape[0];
  return {
    model: g.model,
    input: {
      tensor: inputNode.id,
      shape: inputNode.shape,
      ...(inputTexture
        ? { layout: "texture", texture: 0 }
        : { layout: inputFirst ? "ncthw" : "nthwc" }),
    },
    logits: { tensor: g.logits, shape: [logitsShape[0], classes] },
    probabilities: { tensor: g.probabilities, shape: [logitsShape[0], classes] },
    tensors,
    buffers: buffers.map((b, id) => ({ id, bytes: b.bytes })),
    weights,
    textures,
    dispatches,
    shaders,
    memory: {
      activationBytes: buffers.reduce((a, b) => a + b.bytes, 0),
      lowerBoundBytes: lowerBound,
      weightBytes: weights.reduce((a, w) => a + w.bytes, 0),
      textureBytes: textures.reduce((a, t) => a + 16 * t.width * t.height, 0),
    },
  };
}
