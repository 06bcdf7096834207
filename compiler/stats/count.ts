// Per-layer counts in the paper's convention (Tran et al. 2019, section 3):
//   params       = C_out * (C_in / G) * kT * kH * kW (+ C_out for a bias); FC: in * out (+ out)
//   macs         = params without bias * T_out * H_out * W_out, for the whole batch; FC: in * out
//   interactions = C_out * binom(C_in / G, 2) for convs (0 for depthwise); FC excluded
// BN, ReLU, pooling and adds cost nothing here; other tools' conventions live in conventions.ts.
import type { Graph, Node } from "../ir.js";
import { flatFeatures } from "../shapes.js";

export interface LayerCounts {
  /** Conv and FC weights and biases (BN excluded). */
  readonly params: number;
  /** BN affine parameters (gamma and beta). */
  readonly bnParams: number;
  /** Conv and FC multiply-adds for the whole batch. */
  readonly macs: number;
  /** Pairs of input channels that meet in one filter, summed over filters (per sample). */
  readonly interactions: number;
}

export const zeroCounts: LayerCounts = { params: 0, bnParams: 0, macs: 0, interactions: 0 };

export function countLayer(node: Node, graph: Graph): LayerCounts {
  const op = node.op;
  const input = graph.nodes[node.inputs[0] ?? 0]!.shape;
  const [n, cOut, t, h, w] = node.shape;
  switch (op.kind) {
    case "conv": {
      const cinPerGroup = input[1] / op.groups;
      const weights = cOut * cinPerGroup * op.kernel[0] * op.kernel[1] * op.kernel[2];
      return {
        params: weights + (op.bias ? cOut : 0),
        bnParams: 0,
        macs: weights * t * h * w * n,
        interactions: cOut * ((cinPerGroup * (cinPerGroup - 1)) / 2),
      };
    }
    case "fc": {
      const features = flatFeatures(input);
      return {
        params: features * op.outFeatures + (op.bias ? op.outFeatures : 0),
        bnParams: 0,
        macs: features * op.outFeatures * n,
        interactions: 0,
      };
    }
    case "bn":
      return { ...zeroCounts, bnParams: 2 * input[1] };
    default:
      return zeroCounts;
  }
}

export function addCounts(a: LayerCounts, b: LayerCounts): LayerCounts {
  return {
    params: a.params + b.params,
    bnParams: a.bnParams + b.bnParams,
    macs: a.macs + b.macs,
    interactions: a.interactions + b.interactions,
  };
}
