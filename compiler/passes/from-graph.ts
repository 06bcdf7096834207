// Checked IR -> inference graph, one node per layer. Dropout disappears (the identity at
// inference). A softmax is appended when the model does not end in one, so that every
// compiled model returns both logits and probabilities.
import type { Graph } from "../ir.js";
import type { InferenceGraph, InferenceNode, InferenceOp } from "../inference.js";

export function fromGraph(graph: Graph): InferenceGraph {
  const alias = new Map<number, number>();
  const resolve = (i: number) => alias.get(i) ?? i;
  const nodes: InferenceNode[] = [];
  for (const n of graph.nodes) {
    if (n.op.kind === "dropout") {
      alias.set(n.id, resolve(n.inputs[0]!));
      continue;
    }
    let op: InferenceOp;
    switch (n.op.kind) {
      case "conv": {
        const { kind: _kind, ...conv } = n.op;
        op = { kind: "conv", conv, relu: false, residual: false, reluAfterAdd: false };
        break;
      }
      case "add":
        op = { kind: "add", relu: false };
        break;
      default:
        op = n.op as InferenceOp;
    }
    nodes.push({
      id: n.id,
      path: n.path,
      layers: [n.path],
      op,
      inputs: n.inputs.map(resolve),
      shape: n.shape,
      order: n.id,
    });
  }
  const last = resolve(graph.output);
  const lastNode = nodes.find((n) => n.id === last)!;
  if (lastNode.op.kind === "softmax") {
    return { model: graph.model, nodes, logits: lastNode.inputs[0]!, probabilities: last };
  }
  const id = graph.nodes.length;
  nodes.push({
    id,
    path: "output.softmax",
    layers: [],
    op: { kind: "softmax" },
    inputs: [last],
    shape: lastNode.shape,
    order: id,
  });
  return { model: graph.model, nodes, logits: last, probabilities: id };
}
