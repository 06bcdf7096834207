// Other tools' ways of counting "FLOPs", so numbers can be compared with their published tables.
// Each returns the tool's count for one layer, for the whole batch.
//   paper    conv + FC multiply-adds; BN, ReLU, pooling and adds are free (Tran et al. 2019).
//   fvcore   paper + 5 per BN element: fvcore's norm rule as PyTorchVideo's model-zoo table
//            applies it (ir-CSN-101 at 32x256x256: 75.62 G). fvcore >= 0.1.5 in eval mode counts 2.
//   mmcv     paper + 2 per BN element (affine): MMAction2's published CSN numbers
//            (ir-CSN-152 at 32x256x256: 97.63 G).
//   ptflops  ptflops' module hooks: conv MACs + bias adds, BN 2 per element, ReLU 1 per output
//            element, pooling 1 per input element, FC in*out + out.
import type { Graph, Node } from "../ir.js";
import { countLayer } from "./count.js";

export const conventions = ["paper", "fvcore", "mmcv", "ptflops"] as const;
export type Convention = (typeof conventions)[number];

const elements = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function conventionFlops(node: Node, graph: Graph, convention: Convention): number {
  const macs = countLayer(node, graph).macs;
  const out = elements(node.shape);
  const input = node.inputs.length ? elements(graph.nodes[node.inputs[0]!]!.shape) : 0;
  const op = node.op;
  switch (convention) {
    case "paper":
      return macs;
    case "fvcore":
      return macs + (op.kind === "bn" ? 5 * out : 0);
    case "mmcv":
      return macs + (op.kind === "bn" ? 2 * out : 0);
    case "ptflops":
      switch (op.kind) {
        case "conv":
          return macs + (op.bias ? out : 0);
        case "fc":
          return macs + (op.bias ? out : 0);
        case "bn":
          return 2 * out;
        case "relu":
          return out;
        case "maxpool":
        case "avgpool":
        case "global_avgpool":
          return input;
        default:
          return 0;
      }
  }
}
