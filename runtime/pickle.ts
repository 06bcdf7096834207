// A restricted reader for the pickles inside PyTorch checkpoints. It never executes or imports
// anything: it understands the opcodes torch.save writes (pickle-opcodes.ts) and builds plain
// values (pickle-values.ts); a global is allowed only if PyTorch's weights-only loader would
// allow it (tensor and storage rebuilders, OrderedDict, plain containers), and any other global
// is refused by name (pickle-torch.ts).
import { PickleMachine } from "./pickle-machine.js";
import { opcodes, STOP } from "./pickle-opcodes.js";
import type { PickleValue, StorageRef } from "./pickle-values.js";

export { maxPickleValues } from "./pickle-machine.js";
export { describe, type PickleValue, type StorageRef, type TensorRef } from "./pickle-values.js";

/**
 * Parses one pickle starting at `start`; returns the value, where it ended and every storage its
 * persistent ids name, by key.
 */
export function readPickle(
  bytes: Uint8Array,
  file: string,
  start = 0,
): { value: PickleValue; end: number; storages: ReadonlyMap<string, StorageRef> } {
  const m = new PickleMachine(bytes, file, start);
  for (;;) {
    const op = m.u8();
    if (op === STOP) return { value: m.pop(), end: m.at, storages: m.storages };
    const run = opcodes.get(op);
    if (!run) return m.fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${m.at - 1}`);
    run(m);
  }
}
