// The layers a statement of the source made, grouped by instance: a layer line inside a block
// called eight times (or in a repeat) has eight instances; a block call or a stage has one
// instance per time it ran, each holding every layer it made. A layer belongs to a statement
// when the statement holds the layer's own line or one of the calls and repeats it came from
// (its origin notes); the notes outside the statement tell its instances apart.
import { partitionPoint, type Span } from "../../grammar/index.js";
import type { Graph, Node, Shape } from "../ir.js";
import { addCounts, countLayer, zeroCounts, type LayerCounts } from "../stats/count.js";

export interface Instance {
  /** The common path of its layers: `res3.0.conv_b`, `res3.0`, `res3`. */
  readonly path: string;
  readonly graph: Graph;
  /** Its layers, in execution order; the last one's output is the instance's. */
  readonly nodes: readonly Node[];
}

/** A place a layer came from: its own line (outside 0) or its i-th origin note (outside i + 1). */
interface Anchor {
  readonly start: number;
  readonly end: number;
  readonly node: Node;
  /** Where the notes outside a statement at this anchor begin. */
  readonly outside: number;
}

// Per graph, its anchors by file, sorted by start: a query reads only those inside its span,
// so hints for a file of thousands of statements stay linear.
const anchorCache = new WeakMap<Graph, Map<string, Anchor[]>>();
function anchorsOf(graph: Graph): Map<string, Anchor[]> {
  const known = anchorCache.get(graph);
  if (known) return known;
  const byFile = new Map<string, Anchor[]>();
  const add = (span: Span | undefined, node: Node, outside: number) => {
    if (!span) return;
    const list = byFile.get(span.file) ?? [];
    list.push({ start: span.start, end: span.end, node, outside });
    byFile.set(span.file, list);
  };
  for (const node of graph.nodes) {
    add(node.span, node, 0);
    node.origin.forEach((n, i) => add(n.span, node, i + 1));
  }
  for (const list of byFile.values()) list.sort((a, b) => a.start - b.start);
  anchorCache.set(graph, byFile);
  return byFile;
}

/** The longest dotted prefix of every path, compared as strings (paths may be long). */
function commonPath(nodes: readonly Node[]): string {
  let common = nodes[0]!.path;
  const boundary = (path: string, i: number) => i === path.length || path[i] === ".";
  for (const n of nodes) {
    const p = n.path;
    // Equality of a slice compares as memory does, many times faster than startsWith.
    if (p.slice(0, common.length) === common && boundary(p, common.length)) continue;
    let i = 0;
    while (i < common.length && i < p.length && common[i] === p[i]) i++;
    if (!boundary(common, i) || !boundary(p, i)) i = Math.max(0, common.lastIndexOf(".", i - 1));
    common = common.slice(0, i);
  }
  return common;
}

// The instance a layer belongs to is told by its origin notes outside the statement. Each note
// is made once, where its call or repeat iteration ran, and every layer made inside it holds
// that same object followed by the same outer notes: the first note outside names the
// instance, without comparing the whole chain (hundreds of notes deep in a long block chain).
const outermost = {};

/** The instances of the statement at `span`, over `graphs`, in execution order. */
export function instancesOf(span: Span, graphs: readonly Graph[]): Instance[] {
  const out: Instance[] = [];
  for (const graph of graphs) {
    const anchors = anchorsOf(graph).get(span.file) ?? [];
    const lo = partitionPoint(anchors.length, (i) => anchors[i]!.start < span.start);
    // Per layer, the outermost of its places inside the statement.
    const outside = new Map<Node, number>();
    for (let i = lo; i < anchors.length && anchors[i]!.start <= span.end; i++) {
      const a = anchors[i]!;
      if (a.end > span.end) continue;
      outside.set(a.node, Math.max(outside.get(a.node) ?? 0, a.outside));
    }
    const groups = new Map<object, Node[]>();
    for (const [node, from] of [...outside].sort((a, b) => a[0].id - b[0].id)) {
      const key = node.origin[from] ?? outermost;
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
