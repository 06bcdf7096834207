// The built-in layers: their words, parameters (in positional order), types and defaults.
// A default given as a function is computed from the arguments already bound.
import type { ParamType, Value } from "./values.js";

export interface LayerParam {
  readonly name: string;
  readonly type: ParamType;
  /** Absent: the argument is required. */
  readonly default?: Value | ((bound: ReadonlyMap<string, Value>) => Value | undefined);
  readonly doc: string;
}

export interface LayerSignature {
  readonly word: string;
  readonly params: readonly LayerParam[];
  readonly doc: string;
}

const int = { kind: "int" } as const;
const float = { kind: "float" } as const;
const bool = { kind: "bool" } as const;
const dims3 = { kind: "dims", length: 3 } as const;

const ones: Value = { type: "dims", value: [1, 1, 1] };
const zeros: Value = { type: "dims", value: [0, 0, 0] };

/** "Same-ish" padding: k/2 (floor) per dimension, which keeps odd windows centred. */
function halfKernel(bound: ReadonlyMap<string, Value>): Value | undefined {
  const k = bound.get("kernel");
  return k?.type === "dims"
    ? { type: "dims", value: k.value.map((x) => Math.floor(x / 2)) }
    : undefined;
}
function sameAsKernel(bound: ReadonlyMap<string, Value>): Value | undefined {
  return bound.get("kernel");
}

const inChannels: LayerParam = {
  name: "in",
  type: int,
  default: { type: "int", value: 0 },
  doc: "expected input channels; 0 (default) takes them from the input",
};

export const layers = {
  conv: {
    word: "conv",
    doc: "3D convolution (bias-free unless bias = true)",
    params: [
      { name: "out", type: int, doc: "output channels" },
      { name: "kernel", type: dims3, doc: "kT x kH x kW" },
      { name: "stride", type: dims3, default: ones, doc: "sT x sH x sW" },
      { name: "pad", type: dims3, default: halfKernel, doc: "symmetric padding, default kernel/2" },
      { name: "groups", type: int, default: { type: "int", value: 1 }, doc: "channel groups" },
      { name: "bias", type: bool, default: { type: "bool", value: false }, doc: "add a bias" },
      inChannels,
    ],
  },
  dwconv: {
    word: "dwconv",
    doc: "depthwise 3D convolution: one filter per channel (groups = channels)",
    params: [
      {
        name: "kernel",
        type: dims3,
        default: { type: "dims", value: [3, 3, 3] },
        doc: "kT x kH x kW",
      },
      { name: "stride", type: dims3, default: ones, doc: "sT x sH x sW" },
      { name: "pad", type: dims3, default: halfKernel, doc: "symmetric padding, default kernel/2" },
      { name: "bias", type: bool, default: { type: "bool", value: false }, doc: "add a bias" },
      inChannels,
    ],
  },
  bn: {
    word: "bn",
    doc: "batch normalisation in inference mode",
    params: [
      {
        name: "eps",
        type: float,
        default: { type: "float", value: 1e-3 },
        doc: "variance epsilon",
      },
      inChannels,
    ],
  },
  relu: { word: "relu", doc: "max(x, 0)", params: [] },
  maxpool: {
    word: "maxpool",
    doc: "3D max pooling (padding counts as -infinity)",
    params: [
      { name: "kernel", type: dims3, doc: "window kT x kH x kW" },
      { name: "stride", type: dims3, default: sameAsKernel, doc: "default: the window" },
      { name: "pad", type: dims3, default: zeros, doc: "at most half the window" },
    ],
  },
  avgpool: {
    word: "avgpool",
    doc: "3D average pooling; without a kernel, global average pooling over T, H, W",
    params: [
      { name: "kernel", type: dims3, default: zeros, doc: "window; omitted or 0 means global" },
      { name: "stride", type: dims3, default: sameAsKernel, doc: "default: the window" },
      {
        name: "pad",
        type: dims3,
        default: zeros,
        doc: "at most half the window (padding excluded from the mean)",
      },
    ],
  },
  fc: {
    word: "fc",
    doc: "fully connected layer over the flattened C x T x H x W features",
    params: [
      { name: "out", type: int, doc: "output features (classes)" },
      { name: "bias", type: bool, default: { type: "bool", value: true }, doc: "add a bias" },
      inChannels,
    ],
  },
  softmax: { word: "softmax", doc: "softmax over channels", params: [] },
  dropout: {
    word: "dropout",
    doc: "dropout: training only, the identity at inference",
    params: [
      { name: "p", type: float, default: { type: "float", value: 0.5 }, doc: "drop probability" },
    ],
  },
} satisfies Record<string, LayerSignature>;

/** The built-in layer words. */
export type LayerWord = keyof typeof layers;

/** Other words for the same layers. */
export const layerAliases: Record<string, string> = { linear: "fc" };

export function lookupLayer(word: string): LayerSignature | undefined {
  return (layers as Record<string, LayerSignature>)[layerAliases[word] ?? word];
}

/** Parameters of `residual(...)`. */
export const residualParams: readonly LayerParam[] = [
  {
    name: "shortcut",
    type: { kind: "enum", members: ["auto", "identity", "project"] },
    default: { type: "enum", value: "auto" },
    doc: "auto: identity when shapes match, else a 1x1x1 conv + bn projection",
  },
  {
    name: "eps",
    type: float,
    default: { type: "float", value: 1e-3 },
    doc: "eps of the projection's bn",
  },
];

/** Enumeration members known without a declaration. */
export const builtinEnumMembers = ["auto", "identity", "project"];

/** Functions usable in expressions. */
export const builtinFunctions: Record<string, (args: number[]) => number> = {
  min: (a) => a.reduce((m, v) => Math.min(m, v)),
  max: (a) => a.reduce((m, v) => Math.max(m, v)),
};
