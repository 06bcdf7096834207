// Every kernel choice, in one place: for each inference step, which family and variant (tiles,
// buffer or texture inputs) runs it. The choice is data (choice.ts): the adapter class's
// defaults (tuning.ts) decide it, unless a measured choice for the step's shape is passed in.
// Generators make exactly what they are given; whether a variant can run is decided here.
import type { InferenceGraph, InferenceNode } from "../inference.js";
import type { ConvAttrs, Triple } from "../ir.js";
import type { DepthwiseTile, DirectTile, KernelChoice, PointwiseTile, Storage } from "./choice.js";
import type { Kernel, KernelLimits } from "./common.js";
import { depthwiseVectorises } from "./conv-depthwise.js";
import { directChannelTile, directTexturable } from "./conv-direct.js";
import { convFamily } from "./conv-family.js";
import { canVectorise, pointwiseTiles } from "./conv-pointwise.js";
import { convWeightFloats, prod, type ConvSpec, type ConvTextures } from "./conv-spec.js";
import { elementwise, type ElementwiseOp } from "./elementwise.js";
import { f32Io } from "./format.js";
import { fc } from "./fc.js";
import { globalAvgPoolReduce } from "./global-avgpool-reduce.js";
import { globalAvgPool, pool, poolVectorises, type PoolSpec } from "./pool.js";
import { softmax } from "./softmax.js";
import { activationTexture, clipTexture, weightTexture } from "./texture.js";
import { policyOf, type Policy, type Tuning } from "./tuning.js";
import type { ConvLayout } from "./weights.js";

const spatial = (shape: readonly number[]) =>
  [shape[2]!, shape[3]!, shape[4]!] as unknown as Triple;
const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * How the clip reaches its readers: `ncthw` uploaded as given (every reader a direct conv that
 * indexes it channels-first), `nthwc` transposed by the host, `texture` packed into the clip
 * texture (see texture.ts).
 */
export type ClipLayout = "ncthw" | "nthwc" | "texture";

/** The weight layout (and conv family) of a conv with `cin` input channels. */
export function convVariant(
  conv: Pick<ConvAttrs, "kernel" | "pad" | "groups" | "outChannels">,
  cin: number,
): ConvLayout {
  const { kernel, pad, groups } = conv;
  if (kernel.every((k) => k === 1) && pad.every((p) => p === 0) && groups === 1) return "pointwise";
  if (groups === cin && conv.outChannels === cin && groups > 1) return "depthwise";
  return "direct";
}

export function convSpec(node: InferenceNode, input: InferenceNode, clip?: ClipLayout): ConvSpec {
  if (node.op.kind !== "conv") throw new Error("not a conv");
  const c = node.op.conv;
  return {
    n: node.shape[0],
    cin: input.shape[1],
    input: spatial(input.shape),
    cout: c.outChannels,
    output: spatial(node.shape),
    kernel: c.kernel,
    stride: c.stride,
    pad: c.pad,
    groups: c.groups,
    epilogue: {
      bias: c.bias || node.op.bn !== undefined,
      relu: node.op.relu,
      residual: node.op.residual,
      reluAfterAdd: node.op.reluAfterAdd,
    },
    ...(input.op.kind === "input" && clip !== undefined && clip !== "nthwc"
      ? { channelsFirstInput: true }
      : {}),
    ...(node.formats ? { formats: node.formats } : {}),
  };
}

/** The clip's layout: as given, transposed, or as a texture (see ClipLayout). */
export function clipLayout(
  g: InferenceGraph,
  limits: KernelLimits,
  tuning: Tuning = {},
): ClipLayout {
  const p = policyOf(tuning);
  const input = g.nodes.find((n) => n.op.kind === "input")!;
  const readers = g.nodes.filter((n) => n.inputs.includes(input.id));
  const direct =
    !p.naive &&
    readers.length > 0 &&
    readers.every(
      (n) =>
        n.op.kind === "conv" &&
        n.inputs[0] === input.id &&
        n.inputs[1] !== input.id &&
        convVariant(n.op.conv, input.shape[1]) === "direct",
    );
  if (!direct) return "nthwc";
  if (!p.textures) return "ncthw";
  // One clip texture, so one border: every reader must pad alike.
  const pad = (n: InferenceNode) => convSpec(n, input).pad.join("x");
  if (readers.some((n) => pad(n) !== pad(readers[0]!))) return "ncthw";
  const texturable = readers.every((n) => {
    const spec = convSpec(n, input, "texture");
    return directTexturable(spec) && convTextures(spec, limits) !== undefined;
  });
  return texturable ? "texture" : "ncthw";
}

/** The textures a conv reads as textures (the clip's own, or a staged copy), if both fit. */
export function convTextures(s: ConvSpec, limits: KernelLimits): ConvTextures | undefined {
  const shape = [s.n, s.cin, ...s.input];
  const f = s.formats ?? f32Io;
  const input = s.channelsFirstInput
    ? clipTexture(shape, limits, s.pad, f.input)
    : activationTexture(shape, limits, s.pad, f.input);
  const weights = weightTexture(s.cout, convWeightFloats(s), limits, f.weights);
  return input && weights ? { input, weights } : undefined;
}

/** Whether the family's texture variant can read this conv: channels that fill texels. */
export function texturable(s: ConvSpec, layout: ConvLayout): boolean {
  if (layout === "pointwise") return canVectorise(s);
  if (layout === "depthwise") return depthwiseVectorises(s);
  return directTexturable(s);
}

/** The largest pointwise tile that still leaves `minInvocations` to spread over the device. */
function pointwiseTile(s: ConvSpec, p: Policy): PointwiseTile {
  const m = s.n * prod(s.output);
  const groups = canVectorise(s) ? s.cout / 4 : s.cout;
  const fits = pointwiseTiles(s).filter((t) => t.rows * t.cols <= Math.max(1, p.maxTileArea));
  return (
    fits.find((t) => Math.ceil(m / t.rows) * (groups / t.cols) >= p.minInvocations) ??
    fits[fits.length - 1]!
  );
}

/** Narrow outputs (res5 at small inputs) get one output per invocation; no tile past the output. */
function depthwiseTile(s: ConvSpec, p: Policy): DepthwiseTile {
  const tile = p.depthwiseTile;
  const [, Ho, Wo] = s.output;
  return { th: Math.min(tile.th, Ho), tw: Math.min(Wo < 4 ? 1 : tile.tw, Wo) };
}

/** Shrinks the row of outputs until the device has enough invocations to spread. */
function directTile(s: ConvSpec, p: Policy): DirectTile {
  const tile = p.directTile;
  const cot = directChannelTile(s, tile.cot);
  let tw = Math.min(tile.tw, s.output[2]);
  const invocations = (w: number) =>
    s.n * s.output[0] * s.output[1] * Math.ceil(s.output[2] / w) * Math.ceil(s.cout / 4 / cot);
  while (tw > 1 && invocations(tw) < p.minInvocations) tw = Math.ceil(tw / 2);
  return { tw, cot };
}

function defaultConvChoice(
  s: ConvSpec,
  layout: ConvLayout,
  p: Policy,
  storage: Storage,
): KernelChoice {
  if (p.naive) return { family: "conv-naive" };
  switch (layout) {
    case "pointwise":
      return { family: "conv-pointwise", storage, tile: pointwiseTile(s, p) };
    case "depthwise":
      return { family: "conv-depthwise", storage, tile: depthwiseTile(s, p) };
    case "direct":
      return { family: "conv-direct", storage, tile: directTile(s, p) };
  }
}

export function poolSpec(node: InferenceNode, input: InferenceNode): PoolSpec {
  const op = node.op as Extract<InferenceNode["op"], { kind: "maxpool" | "avgpool" }>;
  return {
    ...op,
    n: node.shape[0],
    c: node.shape[1],
    input: spatial(input.shape),
    output: spatial(node.shape),
    ...(node.formats ? { formats: node.formats } : {}),
  };
}

/** The weight layout (the kind of conv) each conv family runs; conv-naive runs every kind. */
const familyLayout: Partial<Record<KernelChoice["family"], ConvLayout>> = {
  "conv-pointwise": "pointwise",
  "conv-gemm": "pointwise",
  "conv-pointwise-splitk": "pointwise",
  "conv-depthwise": "depthwise",
  "conv-depthwise-halo": "depthwise",
  "conv-direct": "direct",
  "conv-implicit-gemm": "direct",
};

/** The default kernel of a conv outside a graph (benchmarks time single convs). */
export function defaultConvKernel(
  s: ConvSpec,
  limits: KernelLimits,
  tuning: Tuning,
  textures?: ConvTextures,
): Kernel {
  const layout = convVariant({ ...s, outChannels: s.cout }, s.cin);
  return convFamily(
    s,
    limits,
    defaultConvChoice(s, layout, policyOf(tuning), textures ? "texture" : "buffer"),
    textures,
  );
}

/** A pool's staged input, without a border or bordered by the window's padding. */
export function poolTexture(s: PoolSpec, limits: KernelLimits, border: boolean) {
  const pad: Triple = border ? s.pad : [0, 0, 0];
  return activationTexture([s.n, s.c, ...s.input], limits, pad, s.formats?.input);
}

/**
 * The key a measured choice is recorded under: the step's op, fused epilogue and shapes, not
 * its layer (a folded BN counts as a bias), so a measurement serves every identical step.
 */
export function stepKey(node: InferenceNode, input: InferenceNode | undefined): string {
  const op = node.op.kind === "conv" ? { ...node.op, bn: node.op.bn !== undefined } : node.op;
  const key = [op, input?.shape ?? [], node.shape];
  // Halves move other bytes: a choice measured in float32 is not one for f16 storage.
  return JSON.stringify(node.formats ? [...key, node.formats] : key);
}

/** The default choice for `node`, whose first input is `input`, and the conv's spec. */
export function defaultChoice(
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  p: Policy,
  clip: ClipLayout,
): KernelChoice {
  const op = node.op;
  if (op.kind === "conv") {
    const s = convSpec(node, input, clip);
    const layout = convVariant(op.conv, s.cin);
    // The clip as given has no staged copy; as a texture it must be read as one.
    const fromClip = input.op.kind === "input";
    const wanted = p.textures && !(fromClip && clip === "ncthw");
    const storage =
      wanted && texturable(s, layout) && convTextures(s, limits) !== undefined
        ? "texture"
        : "buffer";
    return defaultConvChoice(s, layout, p, storage);
  }
  if (op.kind === "maxpool" || op.kind === "avgpool") {
    // Average pooling counts its padding as zeros: a bordered texture holds them, no checks.
    const s = poolSpec(node, input);
    const border = s.kind === "avgpool" && s.pad.some((x) => x > 0);
    const texture = p.textures && poolVectorises(s) && poolTexture(s, limits, border) !== undefined;
    return texture
      ? { family: "pool", storage: "texture", ...(border ? { border } : {}) }
      : { family: "pool", storage: "buffer" };
  }
  const family = {
    global_avgpool: "global-avgpool",
    fc: "fc",
    softmax: "softmax",
    bn: "elementwise",
    relu: "elementwise",
    add: "elementwise",
    input: undefined,
  }[op.kind];
  if (!family) throw new Error("the input needs no kernel");
  return { family } as KernelChoice;
}

/** The kernel `choice` names for `node`; throws (a csnc bug) if that variant cannot run it. */
export function generate(
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  choice: KernelChoice,
  clip: ClipLayout,
): Kernel {
  const op = node.op;
  const formats = node.formats ?? f32Io;
  const textures = (s: ConvSpec, storage: Storage) => {
    if (storage === "buffer") return undefined;
    const t = convTextures(s, limits);
    if (!t) throw new Error(`csnc bug: ${node.path}'s textures do not fit the device`);
    return t;
  };
  switch (choice.family) {
    case "conv-pointwise":
    case "conv-depthwise":
    case "conv-direct":
    case "conv-gemm":
    case "conv-pointwise-splitk":
    case "conv-implicit-gemm":
    case "conv-depthwise-halo":
    case "conv-naive": {
      if (op.kind !== "conv") break;
      const naive = choice.family === "conv-naive";
      const fromClip = input.op.kind === "input";
      // The clip's layout was fixed for all its readers: a reader must read it that way.
      if (
        fromClip &&
        clip !== "nthwc" &&
        (naive || (choice.storage === "texture") !== (clip === "texture"))
      )
        throw new Error(`csnc bug: ${choice.family} cannot read the ${clip} clip (${node.path})`);
      const s = convSpec(node, input, naive ? "nthwc" : clip);
      const layout = convVariant(op.conv, s.cin);
      if (!naive && familyLayout[choice.family] !== layout)
        throw new Error(`csnc bug: ${choice.family} cannot run ${node.path}, a ${layout} conv`);
      return convFamily(s, limits, choice, naive ? undefined : textures(s, choice.storage));
    }
    case "pool": {
      if (op.kind !== "maxpool" && op.kind !== "avgpool") break;
      const s = poolSpec(node, input);
      if (choice.storage === "buffer") return pool(s, limits);
      const texture = poolTexture(s, limits, choice.border === true);
      if (!texture) throw new Error(`csnc bug: ${node.path}'s texture does not fit the device`);
      return pool(s, limits, texture);
    }
    case "global-avgpool":
      if (op.kind !== "global_avgpool") break;
      return globalAvgPool(node.shape[0], node.shape[1], spatial(input.shape), limits, formats);
    case "global-avgpool-reduce": {
      if (op.kind !== "global_avgpool") break;
      const [n, c] = node.shape;
      const { threads, subgroups } = choice;
      const sg = subgroups === true;
      return globalAvgPoolReduce(n, c, spatial(input.shape), limits, threads, sg, formats);
    }
    case "fc": {
      if (op.kind !== "fc") break;
      const [, c, t, h, w] = input.shape as [number, number, number, number, number];
      return fc(node.shape[0], [c, t, h, w], op.outFeatures, op.bias, limits, formats);
    }
    case "softmax":
      // Over channels at every position: channels-last keeps each position's C values together.
      return softmax(elements(node.shape) / node.shape[1], node.shape[1], limits);
    case "elementwise": {
      const run = (o: ElementwiseOp) =>
        elementwise(o, elements(node.shape), node.shape[1], limits, formats);
      if (op.kind === "bn") return run({ kind: "affine" });
      if (op.kind === "relu") return run({ kind: "relu" });
      if (op.kind === "add") return run({ kind: "add", relu: op.relu });
      break;
    }
  }
  throw new Error(`csnc bug: ${choice.family} cannot run ${node.path} (${op.kind})`);
}

/**
 * The kernel of `node`, whose first input is `input`: the measured choice for its shape where
 * `tuning.choices` has one that can run here, else the adapter class's default.
 */
export function selectKernel(
  node: InferenceNode,
  input: InferenceNode | undefined,
  limits: KernelLimits,
  tuning: Tuning = {},
  clip: ClipLayout = "nthwc",
): Kernel {
  if (!input) throw new Error("the input needs no kernel");
  const measured = tuning.choices?.[stepKey(node, input)];
  if (measured) {
    try {
      return generate(node, input, limits, measured, clip);
    } catch (e) {
      // A choice measured elsewhere (another device's limits) falls back to the default.
      if (!(e instanceof Error) || !e.message.startsWith("csnc bug")) throw e;
    }
  }
  const choice = defaultChoice(node, input, limits, policyOf(tuning), clip);
  return generate(node, input, limits, choice, clip);
}
