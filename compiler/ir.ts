// The graph IR: one node per layer, plain readonly data, with resolved attributes, the output
// shape and a stable hierarchical path (`res3.0.conv_b`) that weights, stats and errors share.
import type { Note, Span } from "../grammar/index.js";
import type { Value } from "./values.js";

/** N, C, T, H, W. */
export type Shape = readonly [number, number, number, number, number];
export type Triple = readonly [number, number, number];

export interface ConvAttrs {
  readonly outChannels: number;
  readonly kernel: Triple;
  readonly stride: Triple;
  readonly pad: Triple;
  readonly groups: number;
  readonly bias: boolean;
  /** Written as `dwconv` (groups = channels); kept so tools can tell it from a grouped conv. */
  readonly depthwise: boolean;
}
export interface PoolAttrs {
  readonly kernel: Triple;
  readonly stride: Triple;
  readonly pad: Triple;
}

export type Op =
  | { readonly kind: "input" }
  | ({ readonly kind: "conv" } & ConvAttrs)
  | { readonly kind: "bn"; readonly eps: number }
  | { readonly kind: "relu" }
  | ({ readonly kind: "maxpool" } & PoolAttrs)
  | ({ readonly kind: "avgpool" } & PoolAttrs)
  | { readonly kind: "global_avgpool" }
  | { readonly kind: "fc"; readonly outFeatures: number; readonly bias: boolean }
  | { readonly kind: "softmax" }
  | { readonly kind: "dropout"; readonly p: number }
  /** Residual sum: inputs[0] is the main path, inputs[1] the shortcut. */
  | { readonly kind: "add" };

export type OpKind = Op["kind"];

export interface Node {
  readonly id: number;
  readonly path: string;
  readonly op: Op;
  readonly inputs: readonly number[];
  readonly shape: Shape;
  readonly span: Span;
  /** The named stage (`res3`) the layer belongs to, if any. */
  readonly stage?: string;
  /** Path of the innermost block instance (`res3.0`), if the layer came from a block. */
  readonly block?: string;
  /** The block calls and repeats that produced the layer, innermost first. */
  readonly origin: readonly Note[];
}

export interface Graph {
  readonly model: string;
  readonly file: string;
  /** The model's parameters after defaults and `--set`. */
  readonly params: Readonly<Record<string, Value>>;
  /** The input the file declares (C, T, H, W), whatever `--input` replaced it with. */
  readonly declaredInput?: readonly [number, number, number, number];
  /** Nodes in execution order; `nodes[i].id === i`. */
  readonly nodes: readonly Node[];
  readonly output: number;
}

export function formatShape(s: Shape): string {
  return s.join("x");
}
