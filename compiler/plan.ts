// The execution plan: the dispatch list with kernels, the tensors with their lifetimes, the
// buffers they share, and what each layer's weights must become at load time. Plain JSON data:
// the runtime executes it and `csnc compile` writes it out.
import { planErrorCode } from "../grammar/codes.js";
import type { InferenceGraph, InferenceNode } from "./inference.js";
import {
  GridError,
  type BindingRole,
  type Kernel,
  type KernelLimits,
  type TextureShape,
} from "./kernels/common.js";
import { admissible, sameChoice } from "./kernels/candidates.js";
import { normaliseKernel, type NormaliseKernel } from "./kernels/normalise.js";
import { storedBytes, type Format, type Precision } from "./kernels/format.js";
import { paddedRowBytes, texelBytes } from "./kernels/texture.js";
import { storedFormat, withFormats } from "./plan/formats.js";
import { clipLayout, selectKernel, stepKey, type ClipLayout } from "./kernels/select.js";
import { policyOf, type Tuning } from "./kernels/tuning.js";
import { packedFloats, type WeightLayout } from "./kernels/weights.js";
import { assignBuffers } from "./plan/buffers.js";
import { lifetimes, liveBytesBound } from "./plan/lifetimes.js";
import { StagingPlanner, type Stage, type StagedTexture } from "./plan/staging.js";

export type { ClipLayout, Stage };

/**
 * One step's weights: where the checkpoint holds them (names are layer paths) and the layout its
 * kernel reads them in (`packing`, as the kernel declared it; see kernels/weights.ts), which
 * also gives their shapes.
 */
export interface WeightSpec {
  readonly path: string;
  readonly packing: WeightLayout;
  /** Whether the layer has a bias tensor of its own (a conv's or an FC's). */
  readonly bias: boolean;
  /** The BN whose statistics fold in: a conv's, or (an affine step) the layer itself. */
  readonly bn?: { readonly path: string; readonly eps: number };
}

export interface PlanTensor {
  readonly id: number;
  readonly path: string;
  /** Logical N, C, T, H, W; stored channels-last. */
  readonly shape: readonly number[];
  readonly bytes: number;
  /** `f16`: stored as halves (`--precision f16-storage`); absent: float32. */
  readonly format?: Format;
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
export type PlanTexture = StagedTexture;

/** A step's kernel as the plan records it: its family and variant (as select.ts chose them) and counts. */
export interface PlanDispatch extends Pick<Kernel, "family" | "choice" | "flops" | "bytes"> {
  readonly path: string;
  readonly layers: readonly string[];
  /** The kernel's name. */
  readonly kernel: string;
  readonly shader: number;
  readonly workgroups: readonly [number, number, number];
  readonly bindings: readonly PlanBinding[];
  /** Before this dispatch, copy the tensor's buffer into the staging texture, plane by plane inside its border. */
  readonly stage?: Stage;
  /** The variant is a measured one (`Tuning.choices`, csnc tune), not the adapter class's default. */
  readonly tuned?: true;
}

export interface Plan {
  readonly model: string;
  /** How activations and weights are stored (arithmetic is float32 either way). */
  readonly precision: Precision;
  /**
   * `ncthw`: the clip is uploaded as given (its readers index it channels-first); `nthwc`:
   * transposed; `texture`: packed by the host into `texture` (see `clipTexture`, texture.ts).
   */
  readonly input: {
    readonly tensor: number;
    readonly shape: readonly number[];
    readonly layout: ClipLayout;
    readonly texture?: number;
    /** The kernel that normalises decoded frames into the clip (3-channel clips). */
    readonly frames?: NormaliseKernel;
  };
  readonly logits: { readonly tensor: number; readonly shape: readonly number[] };
  readonly probabilities: { readonly tensor: number; readonly shape: readonly number[] };
  readonly tensors: readonly PlanTensor[];
  readonly buffers: readonly { readonly id: number; readonly bytes: number }[];
  /** Uploaded as a texture of Cout/4 texels a row (the packed layout's rows) where set. */
  readonly weights: readonly (WeightSpec & {
    readonly bytes: number;
    /** `f16`: uploaded as halves; absent: float32. */
    readonly format?: Format;
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

/** The name of the kernel whose WGSL is `plan.shaders[shader]` (every shader has a dispatch). */
export function shaderKernel(plan: Plan, shader: number): string {
  return plan.dispatches.find((d) => d.shader === shader)!.kernel;
}

/** A plan that cannot run on the device's limits; the message says which layer and what to change. */
export class PlanError extends Error {
  readonly code = planErrorCode;
}

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const MiB = (bytes: number, digits: number) => (bytes / 2 ** 20).toFixed(digits);

/** Where the checkpoint holds a step's weights, for a step whose kernel reads them. */
function layerWeights(node: InferenceNode, packing: WeightLayout): WeightSpec {
  const op = node.op;
  const at = { path: node.path, packing };
  if (op.kind === "conv") return { ...at, bias: op.conv.bias, ...(op.bn ? { bn: op.bn } : {}) };
  if (op.kind === "fc") return { ...at, bias: op.bias };
  if (op.kind === "bn") return { ...at, bias: false, bn: { path: node.path, eps: op.eps } };
  throw new Error(`csnc bug: ${node.path} (${op.kind}) has a kernel that reads weights`);
}

const tensorBytes = (n: InferenceNode) => storedBytes(elements(n.shape), storedFormat(n));

function checkTensorSizes(g: InferenceGraph, limits: KernelLimits): void {
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  for (const n of g.nodes) {
    const bytes = tensorBytes(n);
    if (bytes > limit)
      throw new PlanError(
        `layer ${n.path} produces ${n.shape.join("x")} (${MiB(bytes, 1)} MiB), above the device's largest storage buffer (${MiB(limit, 0)} MiB): use a smaller --input or --batch`,
      );
  }
}

function kernelFor(
  n: InferenceNode,
  input: InferenceNode | undefined,
  limits: KernelLimits,
  tuning: Tuning,
  clip: ClipLayout,
): { kernel: Kernel; tuned: boolean } {
  try {
    // A measured choice the tuner could not have made here (another model's, a hand-edited
    // file's) is dropped for the default.
    const key = input ? stepKey(n, input) : undefined;
    const measured = key === undefined ? undefined : tuning.choices?.[key];
    if (measured && input && !admissible(measured, n, input, limits, clip, tuning))
      tuning = { ...tuning, choices: undefined };
    const kernel = selectKernel(n, input, limits, tuning, clip);
    if (kernel.bindings.length > limits.maxStorageBuffersPerShaderStage)
      throw new PlanError(
        `kernel ${kernel.name} for ${n.path} needs ${kernel.bindings.length} storage buffers; the device allows ${limits.maxStorageBuffersPerShaderStage}`,
      );
    // The measured choice, if selectKernel could use it (else it fell back to the default).
    const used = key === undefined ? undefined : tuning.choices?.[key];
    return { kernel, tuned: used !== undefined && sameChoice(kernel.choice, used) };
  } catch (e) {
    // A dispatch past the grid is a plan the device cannot run, not an internal error.
    if (!(e instanceof GridError)) throw e;
    throw new PlanError(
      `layer ${n.path} (${n.shape.join("x")}): ${e.message}: use a smaller --input or --batch`,
    );
  }
}

/**
 * The frames kernel, or none where it cannot fit the device's grid (the model still runs on
 * float clips; frames are then refused, saying why).
 */
function framesKernel(make: () => NormaliseKernel | undefined) {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof GridError)) throw e;
    return undefined;
  }
}

export function buildPlan(
  graph: InferenceGraph,
  limits: KernelLimits,
  tuning: Tuning = {},
  precision: Precision = "f32",
): Plan {
  const g = withFormats(graph, precision, policyOf(tuning).naive);
  const weightFormat: Format = precision === "f32" ? "f32" : "f16";
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const steps = g.nodes.filter((n) => n.op.kind !== "input");
  const inputNode = g.nodes.find((n) => n.op.kind === "input")!;
  checkTensorSizes(g, limits);

  const clip = clipLayout(g, limits, tuning);
  const spans = lifetimes(g, steps, clip === "texture");
  const tensorSpans = g.nodes.map((n) => ({
    id: n.id,
    bytes: tensorBytes(n),
    ...spans.get(n.id)!,
  }));
  const { sizes, bufferOf } = assignBuffers(tensorSpans);
  const tensors: PlanTensor[] = g.nodes.map((n, i) => ({
    id: n.id,
    path: n.path,
    shape: n.shape,
    bytes: tensorSpans[i]!.bytes,
    ...(storedFormat(n) === "f16" ? { format: "f16" as const } : {}),
    buffer: bufferOf.get(n.id)!,
    ...spans.get(n.id)!,
  }));

  const chosen = steps.map((n) => kernelFor(n, byId.get(n.inputs[0]!), limits, tuning, clip));
  const kernels = chosen.map((c) => c.kernel);
  const lastTextureRead = new Map<number, number>();
  kernels.forEach((k, i) => {
    if (k.textures?.input) lastTextureRead.set(steps[i]!.inputs[0]!, i);
  });
  const staging = new StagingPlanner(lastTextureRead);
  if (clip === "texture") {
    const reader = kernels.find((_, i) => steps[i]!.inputs[0] === inputNode.id)!;
    staging.clip(reader.textures!.input!);
  }
  const shaders: string[] = [];
  const shaderIndex = new Map<string, number>();
  const weights: Plan["weights"][number][] = [];
  const dispatches: PlanDispatch[] = steps.map((n, at) => {
    const kernel = kernels[at]!;
    let shader = shaderIndex.get(kernel.key);
    if (shader === undefined) {
      shader = shaders.length;
      shaders.push(kernel.wgsl);
      shaderIndex.set(kernel.key, shader);
    }
    const input = byId.get(n.inputs[0]!)!;
    let weightId = -1;
    if (kernel.weights) {
      weightId = weights.length;
      const bytes = storedBytes(packedFloats(kernel.weights), weightFormat);
      if (bytes > limits.maxStorageBufferBindingSize)
        throw new PlanError(
          `the weights of ${n.path} take ${MiB(bytes, 1)} MiB, above the device's largest storage buffer`,
        );
      const texture = kernel.textures?.weights;
      weights.push({
        ...layerWeights(n, kernel.weights),
        bytes,
        ...(weightFormat === "f16" ? { format: weightFormat } : {}),
        ...(texture ? { texture } : {}),
      });
    }
    let stage: Stage | undefined;
    let inputBinding: PlanBinding = { tensor: input.id };
    const read = kernel.textures?.input;
    if (read && input.id === inputNode.id && clip === "texture") inputBinding = { texture: 0 };
    else if (read) {
      const staged = staging.stage(input.id, input.shape, read, at);
      inputBinding = { texture: staged.texture };
      stage = staged.stage;
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
      family: kernel.family,
      choice: kernel.choice,
      shader,
      workgroups: kernel.dispatch,
      bindings: kernel.bindings.map(bind),
      ...(stage ? { stage } : {}),
      ...(chosen[at]!.tuned ? { tuned: true } : {}),
      flops: kernel.flops,
      bytes: kernel.bytes,
    };
  });

  const logitsShape = byId.get(g.logits)!.shape;
  const clipTextureShape = clip === "texture" ? staging.textures[0] : undefined;
  const frames = framesKernel(() =>
    normaliseKernel(
      {
        shape: inputNode.shape,
        layout: clip,
        ...(clipTextureShape
          ? {
              texture: clipTextureShape,
              texelsPerRow: paddedRowBytes(clipTextureShape) / texelBytes(clipTextureShape),
            }
          : {}),
        format: storedFormat(inputNode),
      },
      limits,
    ),
  );
  const classes = elements(logitsShape) / logitsShape[0];
  const textures = staging.textures;
  return {
    model: g.model,
    precision,
    input: {
      tensor: inputNode.id,
      shape: inputNode.shape,
      layout: clip,
      ...(clip === "texture" ? { texture: 0 } : {}),
      ...(frames ? { frames } : {}),
    },
    logits: { tensor: g.logits, shape: [logitsShape[0], classes] },
    probabilities: { tensor: g.probabilities, shape: [logitsShape[0], classes] },
    tensors,
    buffers: sizes.map((bytes, id) => ({ id, bytes })),
    weights,
    textures,
    dispatches,
    shaders,
    memory: {
      activationBytes: sizes.reduce((a, b) => a + b, 0),
      lowerBoundBytes: liveBytesBound(tensors, steps.length),
      weightBytes: weights.reduce((a, w) => a + w.bytes, 0),
      textureBytes: textures.reduce((a, t) => a + texelBytes(t) * t.width * t.height, 0),
    },
  };
}
