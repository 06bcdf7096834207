// The typed layer word -> op conversion: one builder per built-in layer word, reading its
// arguments through typed accessors. The table is keyed by the layer table's words, so a word
// without an op does not compile; one that slips through at run time is an error, not a default.
import type { Op, Shape } from "../ir.js";
import type { LayerWord } from "../layers.js";
import type { BoundArgs } from "./args.js";

/** A layer's op and the name its path takes when the call has no label. */
export interface LayerOp {
  readonly op: Op;
  readonly name: string;
}

type Builder = (args: BoundArgs, input: Shape) => LayerOp;

const builders: Record<LayerWord, Builder> = {
  conv: (a) => ({
    op: {
      kind: "conv",
      outChannels: a.int("out"),
      kernel: a.triple("kernel"),
      stride: a.triple("stride"),
      pad: a.triple("pad"),
      groups: a.int("groups"),
      bias: a.bool("bias"),
      depthwise: false,
    },
    name: "conv",
  }),
  dwconv: (a, input) => ({
    op: {
      kind: "conv",
      outChannels: input[1],
      kernel: a.triple("kernel"),
      stride: a.triple("stride"),
      pad: a.triple("pad"),
      groups: input[1],
      bias: a.bool("bias"),
      depthwise: true,
    },
    name: "conv",
  }),
  bn: (a) => ({ op: { kind: "bn", eps: a.float("eps") }, name: "bn" }),
  maxpool: (a) => ({
    op: {
      kind: "maxpool",
      kernel: a.triple("kernel"),
      stride: a.triple("stride"),
      pad: a.triple("pad"),
    },
    name: "pool",
  }),
  avgpool: (a) => {
    const kernel = a.triple("kernel");
    // A zero window (the default) pools globally.
    const op: Op = kernel.every((k) => k === 0)
      ? { kind: "global_avgpool" }
      : { kind: "avgpool", kernel, stride: a.triple("stride"), pad: a.triple("pad") };
    return { op, name: "pool" };
  },
  fc: (a) => ({ op: { kind: "fc", outFeatures: a.int("out"), bias: a.bool("bias") }, name: "fc" }),
  dropout: (a) => ({ op: { kind: "dropout", p: a.float("p") }, name: "dropout" }),
  relu: () => ({ op: { kind: "relu" }, name: "relu" }),
  softmax: () => ({ op: { kind: "softmax" }, name: "softmax" }),
};

/** The op of a built-in layer `word` with bound arguments, applied to an input of `input`. */
export function layerOp(word: string, args: BoundArgs, input: Shape): LayerOp {
  const build = (builders as Partial<Record<string, Builder>>)[word];
  // The layer table and this one disagree: a csnc bug, not the user's.
  if (!build) throw new Error(`layer word '${word}' has no op`);
  return build(args, input);
}
