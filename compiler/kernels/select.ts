// Kernel variant choice for each inference step, apart from the generators themselves.
import type { InferenceGraph, InferenceNode } from "../inference.js";
import type { Triple } from "../ir.js";
import type { Kernel, KernelLimits } from "./common.js";
import { convDepthwise } from "./conv-depthwise.js";
import { convDirect, directChannelTile, directTexturable } from "./conv-direct.js";
import { convNaive } from "./conv-naive.js";
import { convPointwise, pointwiseTile } from "./conv-pointwise.js";
import { convWeightFloats, type ConvSpec } from "./conv-spec.js";
import { elementwise } from "./elementwise.js";
import { fc } from "./fc.js";
import { globalAvgPool, pool } from "./pool.js";
import { softmax } from "./softmax.js";
import type { Tuning } from "./tuning.js";
import { activationTexture, clipTexture, weightTexture } from "./texture.js";

const spatial = (shape: readonly number[]) =>
  [shape[2]!, shape[3]!, shape[4]!] as unknown as Triple;
const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export type ConvVariant = "pointwise" | "depthwise" | "direct";

export function convVariant(
  conv: Extract<InferenceNode["op"], { kind: "conv" }>["conv"],
  cin: number,
): ConvVariant {
  const { kernel, pad, groups } = conv;
  if (kernel.every((k) => k === 1) && pad.every((p) => p === 0) && groups === 1) return "pointwise";
  if (groups === cin && conv.outChannels === cin && groups > 1) return "depthwise";
  return "direct";
}

export function convSpec(node: InferenceNode, input: InferenceNode): ConvSpec {
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
  };
}

/** Whether the model's input can stay channels-first: every reader is a direct conv. */
export function channelsFirstInput(g: InferenceGraph, tuning: Tuning = {}): boolean {
  const input = g.nodes.find((n) => n.op.kind === "input")!;
  const readers = g.nodes.filter((n) => n.inputs.includes(input.id));
  return (
    !tuning.naive &&
    readers.length > 0 &&
    readers.every(
      (n) =>
        n.op.kind === "conv" &&
        n.inputs[0] === input.id &&
        n.inputs[1] !== input.id &&
        convVariant(n.op.conv, input.shape[1]) === "direct",
    )
  );
}

/** Whether the clip is uploaded as a texture: every reader is a direct conv that reads it so. */
export function clipAsTexture(
  g: InferenceGraph,
  limits: KernelLimits,
  tuning: Tuning = {},
): boolean {
  if (!tuning.textures || !channelsFirstInput(g, tuning)) return false;
  const input = g.nodes.find((n) => n.op.kind === "input")!;
  const readers = g.nodes.filter((n) => n.inputs.includes(input.id));
  // One clip texture, so one border: every reader must pad alike.
  const pad = (n: InferenceNode) => convSpec(n, input).pad.join("x");
  if (readers.some((n) => pad(n) !== pad(readers[0]!))) return false;
  return readers.every((n) => {
    const spec = { ...convSpec(n, input), channelsFirstInput: true };
    return directTexturable(spec) && convTextures(spec, input.shape, limits, true) !== undefined;
  });
}

/** The textures a conv reads, when the tuning asks for them and both fit the device. */
function convTextures(
  spec: ConvSpec,
  inputShape: readonly number[],
  limits: KernelLimits,
  clip: boolean,
): Kernel["textures"] {
  const input = clip
    ? clipTexture(inputShape, limits, spec.pad)
    : activationTexture(inputShape, limits, spec.pad);
  const weights = weightTexture(spec.cout, convWeightFloats(spec), limits);
  return input && weights ? { input, weights } : undefined;
}

/** The kernel of `node`, whose first input is `input` (undefined for the graph's input). */
export function selectKernel(
  node: InferenceNode,
  input: InferenceNode | undefined,
  limits: KernelLimits,
  tuning: Tuning = {},
  inputChannelsFirst = false,
  inputTexture = false,
): Kernel {
  const op = node.op;
  switch (op.kind) {
    case "conv": {
      const spec = {
        ...convSpec(node, input!),
        channelsFirstInput: inputChannelsFirst && input!.op.kind === "input",
      };
      if (tuning.naive) return convNaive(spec, limits);
      const variant = convVariant(op.conv, input!.shape[1]);
      // The clip is read from its own texture, or staged like any tensor when channels-last.
      const fromClip = input!.op.kind === "input";
      const textures =
        tuning.textures && (!fromClip || inputTexture || !inputChannelsFirst)
          ? convTextures(spec, input!.shape, limits, fromClip && inputTexture)
          : undefined;
      if (variant === "pointwise")
        return convPointwise(
          spec,
          limits,
          pointwiseTile(spec, tuning.minInvocations, tuning.maxTileArea),
          textures,
        );
      if (variant === "depthwise") {
        // Narrow outputs (res5 at small inputs) get one output per invocation.
        const tile = tuning.depthwiseTile ?? { th: 1, tw: 2 };
        const tw = spec.output[2] < 4 ? 1 : tile.tw;
        return convDepthwise(spec, limits, { th: tile.th, tw }, textures);
      }
      const tile = tuning.directTile ?? { tw: 4, cot: 4 };
      const cot = directChannelTile(spec, tile.cot);
      // Shrink the row of outputs until the device has enough invocations to spread.
      let tw = Math.min(tile.tw, spec.output[2]);
      const invocations = (w: number) =>
        spec.n *
        spec.output[0] *
        spec.output[1] *
        Math.ceil(spec.output[2] / w) *
        Math.ceil(spec.cout / 4 / cot);
      while (tw > 1 && invocations(tw) < (tuning.minInvocations ?? 4096)) tw = Math.ceil(tw / 2);
      return convDirect(spec, limits, tw, cot, textures);
    }
    case "maxpool":
    case "avgpool":
      return pool(
        {
          ...op,
          n: node.shape[0],
          c: node.shape[1],
          input: spatial(input!.shape),
          output: spatial(node.shape),
        },
        limits,
        tuning.textures ? activationTexture(input!.shape, limits) : undefined,
      );
    case "global_avgpool":
      return globalAvgPool(node.shape[0], node.shape[1], spatial(input!.shape), limits);
    case "fc":
      return fc(
        node.shape[0],
        elements(input!.shape) / input!.shape[0],
        op.outFeatures,
        op.bias,
        limits,
      );
    case "softmax":
      // Over channels at every position: channels-last keeps each position's C values together.
      return softmax(elements(node.shape) / node.shape[1], node.shape[1], limits);
    case "bn":
      return elementwise({ kind: "affine" }, elements(node.shape), node.shape[1], limits);
    case "relu":
      return elementwise({ kind: "relu" }, elements(node.shape), node.shape[1], limits);
    case "add":
      return elementwise(
        { kind: "add", relu: op.relu },
        elements(node.shape),
        node.shape[1],
        limits,
      );
    case "input":
      throw new Error("the input needs no kernel");
  }
}
