// conv -> bn  becomes one conv whose weights and bias absorb the BN (folded at load time):
//   w' = w * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta
import { bypass, consumers, replaceNode, type InferenceGraph } from "../inference.js";

export function foldBn(g: InferenceGraph): InferenceGraph {
  for (const bn of g.nodes) {
    if (bn.op.kind !== "bn") continue;
    const conv = g.nodes.find((n) => n.id === bn.inputs[0]);
    if (conv?.op.kind !== "conv" || conv.op.bn || conv.op.relu || conv.op.residual) continue;
    if ((consumers(g).get(conv.id) ?? []).length !== 1 || conv.id === g.logits) continue;
    const folded = {
      ...conv,
      layers: [...conv.layers, ...bn.layers],
      op: { ...conv.op, bn: { path: bn.path, eps: bn.op.eps } },
    };
    return foldBn(bypass(replaceNode(g, folded), bn.id, conv.id));
  }
  return g;
}
