// The layers a statement of the source made, grouped by instance: a layer line inside a block
// called eight times (or in a repeat) has eight instances; a block call or a stage has one
// instance per time it ran, each holding every layer it made. A layer belongs to a statement
// when the statement holds the layer's own line or one of the calls and repeats it came from
// (its origin notes); the notes outside the statement tell its instances apart.
import type { Span } from "../../grammar/index.js";
import type { Graph, Node, Shape } from "../ir.js";
import { addCounts, countLayer, zeroCounts, type LayerCounts } from "../stats/count.js";

export interface Instance {
  /** The common path of its layers: `res3.0.conv_b`, `res3.0`, `res3`. */
  readonly path: string;
  readonly graph: Graph;
  /** Its layers, in execution order; the last one's output is the instance's. */
  readonly nodes: readonly Node[];
}

const within = (inner: Span | undefined, outer: Span) =>
  inner !== undefined &&
  inner.file === outer.file &&
  inner.start >= outer.start &&
  inner.end <= outer.end;

function commonPath(nodes: readonly Node[]): string {
  let parts = nodes[0]!.path.split(".");
  for (const n of nodes) {
    const p = n.path.split(".");
    let i = 0;
    while (i < parts.length && i < p.length && parts[i] === p[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(".");
}

/** The instances of the statement at `span`, over `graphs`, in execution order. */
export function instancesOf(span: Span, graphs: readonly Graph[]): Instance[] {
  const out: Instance[] = [];
  for (const graph of graphs) {
    const groups = new Map<string, Node[]>();
    for (const node of graph.nodes) {
      let outside: number; // where the notes outside the statement begin
      if (within(node.span, span)) outside = 0;
      else {
        let last = -1;
        for (let i = 0; i < node.origin.length; i++)
          if (within(node.origin[i]!.span, span)) last = i;
        if (last < 0) continue;
        outside = last + 1;
      }
      const key = node.origin
        .slice(outside)
        .map((n) => `${n.span?.start}:${n.span?.file}:${n.message}`)
        .join("|");
      const list = groups.get(key);
      if (list) list.push(node);
      else groups.set(key, [node]);
    }
    for (const nodes of groups.values()) out.push({ path: commonPath(nodes), graph, nodes });
  }
  return out;
}

/** An instance's output shape (N, C, T, H, W). */
export function outputShape(i: Instance): Shape {
  return i.nodes.at(-1)!.shape;
}

/** An instance's counts, summed over its layers (the paper's convention). */
export function instanceCounts(i: Instance): LayerCounts {
  return i.nodes.reduce((acc, n) => addCounts(acc, countLayer(n, i.graph)), zeroCounts);
}
