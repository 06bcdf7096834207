// Statistics of a graph: per layer, per block instance, per stage, and totals, as plain data
// that the CLI renders as a table or JSON.
import { lineCol, type Sources } from "../../grammar/index.js";
import type { Graph, Node } from "../ir.js";
import { addCounts, countLayer, zeroCounts, type LayerCounts } from "./count.js";
import { conventionFlops, type Convention } from "./conventions.js";

export interface LayerRow extends LayerCounts {
  readonly path: string;
  readonly op: string;
  /** kernel / stride / groups, e.g. `1x1x1 s2x2x2 g1`; empty for ops without a window. */
  readonly config: string;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  /** The chosen convention's count for the whole batch. */
  readonly flops: number;
  readonly stage?: string;
  readonly block?: string;
  readonly location: { readonly file: string; readonly line: number; readonly col: number };
}

export interface GroupRow extends LayerCounts {
  readonly name: string;
  readonly layers: number;
  readonly flops: number;
}

export interface StatsReport {
  readonly model: string;
  readonly convention: Convention;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly layers: readonly LayerRow[];
  readonly blocks: readonly GroupRow[];
  readonly stages: readonly GroupRow[];
  readonly totals: GroupRow;
}

function describeOp(node: Node): { op: string; config: string } {
  const op = node.op;
  switch (op.kind) {
    case "conv": {
      const kind = op.depthwise ? "dwconv" : op.groups > 1 ? "conv(grouped)" : "conv";
      const pad = op.pad.join("x");
      return {
        op: kind,
        config: `${op.kernel.join("x")} s${op.stride.join("x")} p${pad}${op.groups > 1 ? ` g${op.groups}` : ""}`,
      };
    }
    case "maxpool":
    case "avgpool":
      return {
        op: op.kind,
        config: `${op.kernel.join("x")} s${op.stride.join("x")} p${op.pad.join("x")}`,
      };
    case "global_avgpool":
      return { op: "avgpool", config: "global" };
    case "fc":
      return { op: "fc", config: op.bias ? "bias" : "" };
    case "bn":
      return { op: "bn", config: `eps ${op.eps}` };
    case "dropout":
      return { op: "dropout", config: `p ${op.p}` };
    default:
      return { op: op.kind, config: "" };
  }
}

export function statsReport(
  graph: Graph,
  sources: Sources,
  convention: Convention = "paper",
): StatsReport {
  const layers: LayerRow[] = [];
  for (const node of graph.nodes) {
    if (node.op.kind === "input") continue;
    const text = sources.get(node.span.file);
    const { line, col } = text === undefined ? { line: 0, col: 0 } : lineCol(text, node.span.start);
    layers.push({
      path: node.path,
      ...describeOp(node),
      inputShape: graph.nodes[node.inputs[0]!]!.shape,
      outputShape: node.shape,
      ...countLayer(node, graph),
      flops: conventionFlops(node, graph, convention),
      stage: node.stage,
      block: node.block,
      location: { file: node.span.file, line, col },
    });
  }
  const group = (key: (row: LayerRow) => string | undefined): GroupRow[] => {
    const groups = new Map<string, { counts: LayerCounts; layers: number; flops: number }>();
    for (const row of layers) {
      const name = key(row) ?? "(model)";
      const g = groups.get(name) ?? { counts: zeroCounts, layers: 0, flops: 0 };
      groups.set(name, {
        counts: addCounts(g.counts, row),
        layers: g.layers + 1,
        flops: g.flops + row.flops,
      });
    }
    return [...groups].map(([name, g]) => ({
      name,
      layers: g.layers,
      flops: g.flops,
      ...pick(g.counts),
    }));
  };
  const totals = group(() => "total")[0] ?? { name: "total", layers: 0, flops: 0, ...zeroCounts };
  return {
    model: graph.model,
    convention,
    inputShape: graph.nodes[0]!.shape,
    outputShape: graph.nodes[graph.output]!.shape,
    layers,
    blocks: group((r) => r.block ?? r.stage),
    stages: group((r) => r.stage),
    totals,
  };
}

function pick(c: LayerCounts): LayerCounts {
  return { params: c.params, bnParams: c.bnParams, macs: c.macs, interactions: c.interactions };
}
