// The training memory plan: persistent buffers (parameters, their gradients and momentum,
// running statistics, the clip, labels, loss and logits) get a slot each; activations,
// gradients and saved statistics share slots wherever their lifetimes over the step sequence
// (first to last step binding them) do not overlap. Saved activations simply live until their
// last backward read.
import { persistentKinds, type TrainBuffer, type TrainStep } from "./program.js";

export function planSlots(
  buffers: readonly Omit<TrainBuffer, "slot">[],
  steps: readonly TrainStep[],
): { buffers: TrainBuffer[]; slots: number[]; transientBytes: number; unsharedBytes: number } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  steps.forEach((s, i) => {
    for (const b of s.buffers) {
      if (!first.has(b)) first.set(b, i);
      last.set(b, i);
    }
  });
  const slots: number[] = [];
  const slotOf = new Map<number, number>();
  const bytes = (b: Omit<TrainBuffer, "slot">) => 4 * b.elements;
  for (const b of buffers)
    if (persistentKinds.has(b.kind) || !first.has(b.id)) {
      slotOf.set(b.id, slots.length);
      slots.push(bytes(b));
    }
  const transient = buffers
    .filter((b) => !slotOf.has(b.id))
    .sort((a, b) => first.get(a.id)! - first.get(b.id)! || a.id - b.id);
  // Greedy by start: the smallest free slot that fits, else the largest free one (grown), else a new one.
  const shared: { slot: number; freeAfter: number }[] = [];
  let unsharedBytes = 0;
  for (const b of transient) {
    const need = bytes(b);
    unsharedBytes += need;
    const free = shared.filter((s) => s.freeAfter < first.get(b.id)!);
    const fits = free
      .filter((s) => slots[s.slot]! >= need)
      .sort((x, y) => slots[x.slot]! - slots[y.slot]!);
    const pick = fits[0] ?? free.sort((x, y) => slots[y.slot]! - slots[x.slot]!)[0];
    if (pick) {
      slots[pick.slot] = Math.max(slots[pick.slot]!, need);
      pick.freeAfter = last.get(b.id)!;
      slotOf.set(b.id, pick.slot);
    } else {
      shared.push({ slot: slots.length, freeAfter: last.get(b.id)! });
      slotOf.set(b.id, slots.length);
      slots.push(need);
    }
  }
  const transientBytes = shared.reduce((a, s) => a + slots[s.slot]!, 0);
  return {
    buffers: buffers.map((b) => ({ ...b, slot: slotOf.get(b.id)! })),
    slots,
    transientBytes,
    unsharedBytes,
  };
}
