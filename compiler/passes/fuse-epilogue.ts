// Elementwise epilogues ride on the conv that produces their input:
//   conv -> relu                      conv{relu}
//   add(conv, other) [-> relu]        conv{residual: other, reluAfterAdd}
// The fused conv moves to the add's place in the schedule, after the shortcut it now reads.
import {
  bypass,
  consumers,
  replaceNode,
  type InferenceGraph,
  type InferenceNode,
} from "../inference.js";

type ConvNode = InferenceNode & { op: Extract<InferenceNode["op"], { kind: "conv" }> };

function soleConsumer(g: InferenceGraph, id: number): InferenceNode | undefined {
  const users = consumers(g).get(id) ?? [];
  if (users.length !== 1 || id === g.logits || id === g.probabilities) return undefined;
  return g.nodes.find((n) => n.id === users[0]);
}

function isConv(n: InferenceNode | undefined): n is ConvNode {
  return n?.op.kind === "conv";
}

export function fuseRelu(g: InferenceGraph): InferenceGraph {
  for (const conv of g.nodes) {
    if (!isConv(conv) || conv.op.residual || conv.op.relu) continue;
    const relu = soleConsumer(g, conv.id);
    if (relu?.op.kind !== "relu") continue;
    const fused = {
      ...conv,
      layers: [...conv.layers, ...relu.layers],
      op: { ...conv.op, relu: true },
    };
    return fuseRelu(bypass(replaceNode(g, fused), relu.id, conv.id));
  }
  return g;
}

export function fuseResidual(g: InferenceGraph): InferenceGraph {
  for (const add of g.nodes) {
    if (add.op.kind !== "add") continue;
    // Prefer the main path (inputs[0]); the other input becomes the residual operand.
    for (const [mine, other] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const conv = g.nodes.find((n) => n.id === add.inputs[mine]);
      if (!isConv(conv) || conv.op.residual || conv.op.relu) continue;
      if (soleConsumer(g, conv.id)?.id !== add.id) continue;
      const fused: InferenceNode = {
        ...conv,
        layers: [...conv.layers, ...add.layers],
        op: { ...conv.op, residual: true },
        inputs: [conv.inputs[0]!, add.inputs[other]!],
        order: add.order,
      };
      return fuseResidual(bypass(replaceNode(g, fused), add.id, conv.id));
    }
  }
  return g;
}

export function fuseResidualRelu(g: InferenceGraph): InferenceGraph {
  for (const conv of g.nodes) {
    if (!isConv(conv) || !conv.op.residual || conv.op.reluAfterAdd) continue;
    const relu = soleConsumer(g, conv.id);
    if (relu?.op.kind !== "relu") continue;
    const fused = {
      ...conv,
      layers: [...conv.layers, ...relu.layers],
      op: { ...conv.op, reluAfterAdd: true },
    };
    return fuseResidualRelu(bypass(replaceNode(g, fused), relu.id, conv.id));
  }
  return g;
}

// A relu after an unfused add folds into the add.
export function fuseAddRelu(g: InferenceGraph): InferenceGraph {
  for (const add of g.nodes) {
    if (add.op.kind !== "add" || add.op.relu) continue;
    const relu = soleConsumer(g, add.id);
    if (relu?.op.kind !== "relu") continue;
    const fused = {
      ...add,
      layers: [...add.layers, ...relu.layers],
      op: { kind: "add" as const, relu: true },
    };
    return fuseAddRelu(bypass(replaceNode(g, fused), relu.id, add.id));
  }
  return g;
}
