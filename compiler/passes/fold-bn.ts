// conv -> bn  becomes one conv whose weights and bias absorb the BN (folded at load time):
//   w' = w * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta
import type { Rule } from "./rewrite.js";

export const foldBnRules: readonly Rule[] = [
  {
    name: "conv-bn",
    match(bn, ctx) {
      if (bn.op.kind !== "bn") return undefined;
      const conv = ctx.node(bn.inputs[0]!);
      if (conv?.op.kind !== "conv" || conv.op.bn || conv.op.relu || conv.op.residual)
        return undefined;
      if (ctx.soleUser(conv.id)?.id !== bn.id) return undefined;
      return {
        node: {
          ...conv,
          layers: [...conv.layers, ...bn.layers],
          op: { ...conv.op, bn: { path: bn.path, eps: bn.op.eps } },
        },
        absorbs: bn.id,
      };
    },
  },
];
