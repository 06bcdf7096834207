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
  // Largest first, each into the smallest slot none of whose occupants it overlaps in time (a
  // slot is as large as its first, largest occupant): closer to the live-bytes bound than
  // first-come placement, which grows slots.
  const transient = buffers
    .filter((b) => !slotOf.has(b.id))
    .sort((a, b) => bytes(b) - bytes(a) || first.get(a.id)! - first.get(b.id)!);
  const shared: { slot: number; spans: [number, number][] }[] = [];
  let unsharedBytes = 0;
  for (const b of transient) {
    const need = bytes(b);
    unsharedBytes += need;
    const span: [number, number] = [first.get(b.id)!, last.get(b.id)!];
    const free = shared.filter((s) => s.spans.every(([f, l]) => l < span[0] || f > span[1]));
    const pick = free.sort((x, y) => slots[x.slot]! - slots[y.slot]!)[0];
    if (pick) {
      pick.spans.push(span);
      slotOf.set(b.id, pick.slot);
    } else {
      shared.push({ slot: slots.length, spans: [span] });
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
