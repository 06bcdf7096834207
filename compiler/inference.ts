// The inference graph: the checked IR after lowering for execution. Dropout is gone, every BN
// is folded into the conv before it (the numbers are folded at load time, from the weights),
// and elementwise epilogues ride on the conv that produces their input.
import type { ConvAttrs, PoolAttrs, Shape } from "./ir.js";

export interface FoldedBn {
  /** Path of the BN layer whose statistics fold into the conv. */
  readonly path: string;
  readonly eps: number;
}

export type InferenceOp =
  | { readonly kind: "input" }
  | {
      readonly kind: "conv";
      readonly conv: ConvAttrs;
      readonly bn?: FoldedBn;
      /** ReLU right after the conv (and its BN). */
      readonly relu: boolean;
      /** inputs[1] is added after the conv (a residual); then `reluAfterAdd` may apply. */
      readonly residual: boolean;
      readonly reluAfterAdd: boolean;
    }
  | { readonly kind: "bn"; readonly eps: number }
  | { readonly kind: "relu" }
  | { readonly kind: "add"; readonly relu: boolean }
  | ({ readonly kind: "maxpool" } & PoolAttrs)
  | ({ readonly kind: "avgpool" } & PoolAttrs)
  | { readonly kind: "global_avgpool" }
  | { readonly kind: "fc"; readonly outFeatures: number; readonly bias: boolean }
  | { readonly kind: "softmax" };

export interface InferenceNode {
  readonly id: number;
  /** Path of the layer that names this step (the conv's, for fused steps). */
  readonly path: string;
  /** Every source layer this step carries out, for profiles and errors. */
  readonly layers: readonly string[];
  readonly op: InferenceOp;
  readonly inputs: readonly number[];
  /** Logical N, C, T, H, W; activations are stored channels-last (N, T, H, W, C). */
  readonly shape: Shape;
  /** Execution order key; nodes are kept sorted by it. */
  readonly order: number;
}

export interface InferenceGraph {
  readonly model: string;
  readonly nodes: readonly InferenceNode[];
  /** The logits tensor and the probabilities tensor (softmax over the logits). */
  readonly logits: number;
  readonly probabilities: number;
}

/** Consumers of each node id. */
export function consumers(g: InferenceGraph): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const n of g.nodes) for (const i of n.inputs) out.set(i, [...(out.get(i) ?? []), n.id]);
  return out;
}

/** Replaces uses of `from` by `to` and drops the node `from`. */
export function bypass(g: InferenceGraph, from: number, to: number): InferenceGraph {
  const rename = (i: number) => (i === from ? to : i);
  return {
    ...g,
    nodes: g.nodes
      .filter((n) => n.id !== from)
      .map((n) => ({ ...n, inputs: n.inputs.map(rename) })),
    logits: rename(g.logits),
    probabilities: rename(g.probabilities),
  };
}

export function replaceNode(g: InferenceGraph, node: InferenceNode): InferenceGraph {
  const nodes = g.nodes.map((n) => (n.id === node.id ? node : n)).sort((a, b) => a.order - b.order);
  return { ...g, nodes };
}

/** Structural checks run after every pass in tests: inputs defined before use, ids unique. */
export function verify(g: InferenceGraph): string[] {
  const problems: string[] = [];
  const seen = new Set<number>();
  for (const n of g.nodes) {
    if (seen.has(n.id)) problems.push(`duplicate node id ${n.id}`);
    for (const i of n.inputs)
      if (!seen.has(i)) problems.push(`${n.path} uses node ${i} before it is computed`);
    seen.add(n.id);
  }
  if (!seen.has(g.logits)) problems.push("logits are not computed");
  if (!seen.has(g.probabilities)) problems.push("probabilities are not computed");
  return problems;
}
