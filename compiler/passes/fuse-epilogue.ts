// Elementwise epilogues ride on the node that produces their input, one rule table per pass:
//   conv -> relu                      conv{relu}
//   add(conv, other)                  conv{residual: other}
//   conv{residual} -> relu            conv{residual, reluAfterAdd}
//   add -> relu (add left unfused)    add{relu}
// The residual conv moves to the add's place in the schedule, after the shortcut it now reads.
import type { InferenceNode } from "../inference.js";
import type { Rewrite, RewriteContext, Rule } from "./rewrite.js";

type ConvNode = InferenceNode & { op: Extract<InferenceNode["op"], { kind: "conv" }> };

function isConv(n: InferenceNode | undefined): n is ConvNode {
  return n?.op.kind === "conv";
}

/** `node` swallows the ReLU that is its only user, setting the flag `set` does. */
function absorbRelu(
  node: InferenceNode,
  ctx: RewriteContext,
  set: (n: InferenceNode) => InferenceNode["op"],
): Rewrite | undefined {
  const relu = ctx.soleUser(node.id);
  if (relu?.op.kind !== "relu") return undefined;
  return {
    node: { ...node, layers: [...node.layers, ...relu.layers], op: set(node) },
    absorbs: relu.id,
  };
}

export const fuseReluRules: readonly Rule[] = [
  {
    name: "conv-relu",
    match: (conv, ctx) =>
      isConv(conv) && !conv.op.residual && !conv.op.relu
        ? absorbRelu(conv, ctx, () => ({ ...conv.op, relu: true }))
        : undefined,
  },
];

export const fuseResidualRules: readonly Rule[] = [
  {
    name: "conv-add",
    match(add, ctx) {
      if (add.op.kind !== "add") return undefined;
      // Prefer the main path (inputs[0]); the other input becomes the residual operand.
      for (const [mine, other] of [
        [0, 1],
        [1, 0],
      ] as const) {
        const conv = ctx.node(add.inputs[mine]!);
        if (!isConv(conv) || conv.op.residual || conv.op.relu) continue;
        if (ctx.soleUser(conv.id)?.id !== add.id) continue;
        return {
          node: {
            ...conv,
            layers: [...conv.layers, ...add.layers],
            op: { ...conv.op, residual: true },
            inputs: [conv.inputs[0]!, add.inputs[other]!],
            order: add.order,
          },
          absorbs: add.id,
        };
      }
      return undefined;
    },
  },
];

export const fuseResidualReluRules: readonly Rule[] = [
  {
    name: "residual-relu",
    match: (conv, ctx) =>
      isConv(conv) && conv.op.residual && !conv.op.reluAfterAdd
        ? absorbRelu(conv, ctx, () => ({ ...conv.op, reluAfterAdd: true }))
        : undefined,
  },
];

// A relu after an unfused add folds into the add.
export const fuseAddReluRules: readonly Rule[] = [
  {
    name: "add-relu",
    match: (add, ctx) =>
      add.op.kind === "add" && !add.op.relu
        ? absorbRelu(add, ctx, () => ({ kind: "add", relu: true }))
        : undefined,
  },
];
