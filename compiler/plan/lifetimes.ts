// Tensor lifetimes in dispatch indices: where each tensor is written (-1: the input) and the
// last dispatch that reads it; the outputs live to the end.
import type { InferenceGraph, InferenceNode } from "../inference.js";

export interface Lifetime {
  readonly def: number;
  readonly lastUse: number;
}

/** `clipUnused`: the clip is uploaded as a texture and its buffer never read. */
export function lifetimes(
  g: InferenceGraph,
  steps: readonly InferenceNode[],
  clipUnused: boolean,
): Map<number, Lifetime> {
  const input = g.nodes.find((n) => n.op.kind === "input")!;
  const def = new Map<number, number>([[input.id, -1]]);
  const lastUse = new Map<number, number>();
  steps.forEach((n, i) => {
    def.set(n.id, i);
    for (const x of n.inputs) lastUse.set(x, i);
  });
  for (const out of [g.logits, g.probabilities]) lastUse.set(out, steps.length);
  if (clipUnused) lastUse.set(input.id, -1);
  return new Map(
    g.nodes.map((n) => [
      n.id,
      { def: def.get(n.id)!, lastUse: lastUse.get(n.id) ?? def.get(n.id)! },
    ]),
  );
}

/**
 * The largest set of simultaneously live bytes over dispatches -1..steps: a prefix sum of
 * +bytes at def and -bytes after the last use (one pass, not a filter per dispatch).
 */
export function liveBytesBound(
  spans: readonly (Lifetime & { readonly bytes: number })[],
  steps: number,
): number {
  const delta = new Float64Array(steps + 3);
  for (const t of spans) {
    if (t.lastUse < t.def) continue;
    delta[t.def + 1] += t.bytes;
    delta[t.lastUse + 2] -= t.bytes;
  }
  let bound = 0;
  for (let i = 0, live = 0; i < steps + 2; i++) {
    live += delta[i]!;
    bound = Math.max(bound, live);
  }
  return bound;
}
