// The rewrite engine every fusion pass runs on. A pass is a table of rules; `rewrite` makes one
// forward sweep over the schedule with one consumer index, built once and updated as rules
// fire, so a pass costs O(nodes + edges) instead of rebuilding the index and restarting its
// scan after every rewrite (which made 5 000 conv/relu pairs run out of memory).
//
// Every rewrite merges two nodes: the survivor keeps its id and becomes `node`, the absorbed
// node disappears and its users read the survivor instead. Rules must only enable matches at or
// after the node being visited (true of every epilogue fusion: a fused node never fuses again
// with the same rule, and no other node's consumer count changes); tests check that a second
// sweep over a pass's output finds nothing.
import type { InferenceGraph, InferenceNode } from "../inference.js";

export interface Rewrite {
  /** The survivor's new version (same id as the survivor). */
  readonly node: InferenceNode;
  /** The node merged into it; its users read `node.id` from now on. */
  readonly absorbs: number;
}

export interface RewriteContext {
  node(id: number): InferenceNode | undefined;
  /** Ids of the nodes reading `id`, once per use. */
  users(id: number): readonly number[];
  /** The only node reading `id`, unless it has more (or no) users or is a graph output. */
  soleUser(id: number): InferenceNode | undefined;
}

export interface Rule {
  readonly name: string;
  readonly match: (node: InferenceNode, ctx: RewriteContext) => Rewrite | undefined;
}

export interface RewriteResult {
  readonly graph: InferenceGraph;
  /** How many times each rule fired. */
  readonly fired: ReadonlyMap<string, number>;
}

function removeOnce(list: number[], id: number): void {
  const at = list.indexOf(id);
  if (at < 0) throw new Error(`csnc bug: rewrite index lost a use of a node by ${id}`);
  list.splice(at, 1);
}

export function rewrite(g: InferenceGraph, rules: readonly Rule[]): RewriteResult {
  // The schedule as slots: a removed node leaves a hole, so indices stay valid during the sweep.
  const slots: (InferenceNode | undefined)[] = [...g.nodes];
  const slotOf = new Map<number, number>();
  const users = new Map<number, number[]>();
  slots.forEach((n, i) => {
    slotOf.set(n!.id, i);
    for (const x of n!.inputs) {
      const list = users.get(x);
      if (list) list.push(n!.id);
      else users.set(x, [n!.id]);
    }
  });
  let { logits, probabilities } = g;
  const node = (id: number) => {
    const at = slotOf.get(id);
    return at === undefined ? undefined : slots[at];
  };
  const ctx: RewriteContext = {
    node,
    users: (id) => users.get(id) ?? [],
    soleUser(id) {
      const list = users.get(id);
      if (!list || list.length !== 1 || id === logits || id === probabilities) return undefined;
      return node(list[0]!);
    },
  };
  const fired = new Map<string, number>();

  const apply = (r: Rewrite) => {
    const keep = r.node.id;
    const old = node(keep);
    const gone = node(r.absorbs);
    if (!old || !gone || keep === r.absorbs || r.node.inputs.includes(r.absorbs))
      throw new Error(`csnc bug: a rewrite merges ${r.absorbs} into ${keep} inconsistently`);
    // Inputs of the two old nodes out of the index, the new node's in.
    for (const x of old.inputs) removeOnce(users.get(x)!, keep);
    for (const x of gone.inputs) removeOnce(users.get(x)!, r.absorbs);
    for (const x of r.node.inputs) {
      const list = users.get(x);
      if (list) list.push(keep);
      else users.set(x, [keep]);
    }
    // Users of the absorbed node read the survivor.
    const moved = users.get(r.absorbs) ?? [];
    users.delete(r.absorbs);
    const keepUsers = users.get(keep) ?? [];
    users.set(keep, keepUsers);
    for (const u of new Set(moved)) {
      const user = node(u)!;
      slots[slotOf.get(u)!] = {
        ...user,
        inputs: user.inputs.map((i) => (i === r.absorbs ? keep : i)),
      };
    }
    keepUsers.push(...moved);
    if (logits === r.absorbs) logits = keep;
    if (probabilities === r.absorbs) probabilities = keep;
    // The merged node takes the slot whose order it carries (a residual conv moves to its add).
    const oldAt = slotOf.get(keep)!;
    const goneAt = slotOf.get(r.absorbs)!;
    slotOf.delete(r.absorbs);
    if (r.node.order === old.order) {
      slots[oldAt] = r.node;
      slots[goneAt] = undefined;
    } else if (r.node.order === gone.order) {
      slots[goneAt] = r.node;
      slots[oldAt] = undefined;
      slotOf.set(keep, goneAt);
    } else {
      throw new Error(`csnc bug: rewrite of ${r.node.path} gives it an order of neither node`);
    }
    // The moved node must still come after its inputs.
    const at = slotOf.get(keep)!;
    for (const x of r.node.inputs)
      if (slotOf.get(x)! >= at)
        throw new Error(`csnc bug: rewrite of ${r.node.path} moves it before its input ${x}`);
  };

  for (let i = 0; i < slots.length; i++) {
    // Rules are retried on the slot after a rewrite: each one removes a node, so this ends.
    for (let changed = true; changed;) {
      changed = false;
      const n = slots[i];
      if (!n) break;
      for (const rule of rules) {
        const r = rule.match(n, ctx);
        if (!r) continue;
        apply(r);
        fired.set(rule.name, (fired.get(rule.name) ?? 0) + 1);
        changed = true;
        break;
      }
    }
  }
  const nodes = slots.filter((n): n is InferenceNode => n !== undefined);
  return { graph: { ...g, nodes, logits, probabilities }, fired };
}
