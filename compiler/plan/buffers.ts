// Activation buffers shared by tensors whose lifetimes do not overlap. Greedy by size: the
// largest tensors claim buffers first; a later tensor reuses the smallest buffer none of whose
// tensors is live at the same time.
import type { Lifetime } from "./lifetimes.js";
import { partitionPoint } from "../../grammar/search.js";

interface Buffer {
  readonly bytes: number;
  // Disjoint intervals, sorted by start: a binary search finds the only one that can overlap a
  // span, and where a new one goes (then one splice), so each tensor costs a search per buffer
  // rather than a scan of every interval.
  readonly starts: number[];
  readonly ends: number[];
}

/** The number of intervals of `b` starting at or before `x`. */
function startsUpTo(b: Buffer, x: number): number {
  return partitionPoint(b.starts.length, (i) => b.starts[i]! <= x);
}

/** The last interval starting at or before e overlaps [s, e] iff it ends at or after s. */
function overlaps(b: Buffer, s: number, e: number): boolean {
  const k = startsUpTo(b, e);
  return k > 0 && b.ends[k - 1]! >= s;
}

/** Buffer sizes, and the buffer of every tensor (by id). */
export function assignBuffers(
  tensors: readonly (Lifetime & { readonly id: number; readonly bytes: number })[],
): { sizes: number[]; bufferOf: Map<number, number> } {
  const order = [...tensors].sort((a, b) => b.bytes - a.bytes || a.id - b.id);
  const buffers: Buffer[] = [];
  const bufferOf = new Map<number, number>();
  for (const t of order) {
    let best = -1;
    buffers.forEach((b, i) => {
      const free = !overlaps(b, t.def, t.lastUse);
      if (free && (best < 0 || b.bytes < buffers[best]!.bytes)) best = i;
    });
    if (best < 0) {
      best = buffers.length;
      buffers.push({ bytes: t.bytes, starts: [], ends: [] });
    }
    const b = buffers[best]!;
    const at = startsUpTo(b, t.def);
    b.starts.splice(at, 0, t.def);
    b.ends.splice(at, 0, t.lastUse);
    bufferOf.set(t.id, best);
  }
  return { sizes: buffers.map((b) => b.bytes), bufferOf };
}
