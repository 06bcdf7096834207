// The forward pass as fused groups: a conv with the ReLU only it feeds; a BN with the residual
// add and ReLU after it (one normalise kernel, and one gradient slot for the three); pools,
// dropout, the FC. A group's output is a ReLU's output when it ends with one: its gradient slot
// then holds the pre-ReLU gradient, the mask applied by whichever kernel writes it.
import type { Graph, Node } from "../ir.js";

export type GroupKind = "conv" | "bn" | "add" | "relu" | "maxpool" | "gap" | "dropout" | "fc";

export interface Group {
  readonly kind: GroupKind;
  /** The node that names the group and holds its attributes (the conv, the BN...). */
  readonly node: Node;
  /** Value ids read: the main input first; a fused add's shortcut second. */
  readonly inputs: readonly number[];
  /** The last node absorbed: the group runs where it stands and its id names the output. */
  readonly output: Node;
  readonly relu: boolean;
  /** A BN group that absorbed the residual add. */
  readonly residual: boolean;
}

export class TrainGraphError extends Error {}

/** The groups in execution order, and the node whose value the loss reads. */
export function groupGraph(
  graph: Graph,
  dropout: boolean,
): { groups: Group[]; logits: Node; aliases: Map<number, number> } {
  const consumers = new Map<number, Node[]>();
  for (const n of graph.nodes)
    for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const sole = (n: Node): Node | undefined => {
    const c = consumers.get(n.id) ?? [];
    return c.length === 1 && c[0]!.inputs.filter((i) => i === n.id).length === 1 ? c[0] : undefined;
  };
  let logits = graph.nodes[graph.output]!;
  if (logits.op.kind === "softmax") logits = graph.nodes[logits.inputs[0]!]!;
  const [, classes, ...rest] = logits.shape;
  if (rest.some((d) => d !== 1) || classes === undefined)
    throw new TrainGraphError(
      `layer ${logits.path}: training needs logits of shape N x classes, but the network ends with ${logits.shape.join("x")}`,
    );
  const absorbed = new Set<number>();
  // A node standing for another's value: disabled dropout is the identity.
  const aliases = new Map<number, number>();
  const groups: Group[] = [];
  const pending: Group[] = [];
  const reluAfter = (n: Node) => {
    const next = sole(n);
    return next?.op.kind === "relu" && n.id !== logits.id ? next : undefined;
  };
  for (const node of graph.nodes) {
    const op = node.op;
    if (op.kind === "input" || absorbed.has(node.id)) {
      flush(node);
      continue;
    }
    const group = (kind: GroupKind, last: Node, extra: Partial<Group> = {}): Group => ({
      kind,
      node,
      inputs: node.inputs,
      output: last,
      relu: false,
      residual: false,
      ...extra,
    });
    let g: Group;
    switch (op.kind) {
      case "conv":
      case "fc":
      case "add": {
        const relu = reluAfter(node);
        if (relu) absorbed.add(relu.id);
        g = group(op.kind, relu ?? node, { relu: !!relu });
        break;
      }
      case "bn": {
        const next = sole(node);
        const add =
          next?.op.kind === "add" && node.id !== logits.id && !absorbed.has(next.id)
            ? next
            : undefined;
        const last = add ?? node;
        const relu = reluAfter(last);
        if (add) absorbed.add(add.id);
        if (relu) absorbed.add(relu.id);
        const res = add?.inputs.find((i) => i !== node.id);
        g = group("bn", relu ?? last, {
          relu: !!relu,
          residual: !!add,
          inputs: add ? [node.inputs[0]!, res!] : node.inputs,
        });
        break;
      }
      case "relu":
        // Its output is a ReLU output like a fused one: its writers apply the mask.
        g = group("relu", node, { relu: true });
        break;
      case "maxpool":
        g = group("maxpool", node);
        break;
      case "global_avgpool":
        g = group("gap", node);
        break;
      case "dropout":
        if (!dropout || op.p === 0) {
          aliases.set(node.id, node.inputs[0]!);
          flush(node);
          continue;
        }
        g = group("dropout", node);
        break;
      case "softmax":
        if (node.id === graph.output) {
          flush(node);
          continue;
        }
        throw new TrainGraphError(
          `layer ${node.path}: csnc trains a softmax only as the network's last layer (the loss takes it in)`,
        );
      case "avgpool":
        throw new TrainGraphError(
          `layer ${node.path}: csnc cannot train average pooling with a window yet (global average pooling it can)`,
        );
    }
    pending.push(g);
    flush(node);
  }
  // A fused group runs where its last node stands, after every input it reads.
  function flush(at: Node) {
    for (let i = 0; i < pending.length;) {
      if (pending[i]!.output.id <= at.id) groups.push(...pending.splice(i, 1));
      else i++;
    }
  }
  return { groups, logits, aliases };
}
