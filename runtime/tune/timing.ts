// Timing one bound kernel finely enough to rank variants that each take a fraction of a
// millisecond: GPU timestamps around a pass where the device has them, otherwise many dispatches
// in one submit on the CPU clock, so that the fixed cost of a submit and its wait is shared.
import { median } from "../profile.js";
import { BufferUsage, MapMode } from "../executor/gpu-flags.js";
import type { BoundCandidate } from "./step-harness.js";

/** Milliseconds of `repeats` dispatches (and their staging copies, on the CPU clock) in one submit. */
async function wallClock(device: GPUDevice, k: BoundCandidate, repeats: number): Promise<number> {
  const commands = device.createCommandEncoder();
  for (let r = 0; r < repeats; r++) {
    k.stage?.(commands);
    const pass = commands.beginComputePass();
    k.dispatch(pass, 1);
    pass.end();
  }
  const start = performance.now();
  device.queue.submit([commands.finish()]);
  await device.queue.onSubmittedWorkDone();
  return (performance.now() - start) / repeats;
}

/** Milliseconds of one dispatch from the timestamps around a pass of `repeats` of them. */
async function timestamps(device: GPUDevice, k: BoundCandidate, repeats: number): Promise<number> {
  const querySet = device.createQuerySet({ type: "timestamp", count: 2 });
  const resolve = device.createBuffer({
    size: 16,
    usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({
    size: 16,
    usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
  });
  const commands = device.createCommandEncoder();
  const pass = commands.beginComputePass({
    timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
  });
  k.dispatch(pass, repeats);
  pass.end();
  commands.resolveQuerySet(querySet, 0, 2, resolve, 0);
  commands.copyBufferToBuffer(resolve, 0, read, 0, 16);
  device.queue.submit([commands.finish()]);
  await read.mapAsync(MapMode.READ);
  const [begin, end] = new BigInt64Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const x of [querySet, resolve, read]) x.destroy();
  return Math.max(0, Number(end! - begin!)) / 1e6 / repeats;
}

export type TimingMethod = "timestamp" | "wall-clock";

export function timingMethod(device: GPUDevice): TimingMethod {
  return device.features.has("timestamp-query") ? "timestamp" : "wall-clock";
}

/**
 * The median of `samples` timings of `k`, each over enough repeats to last about `targetMs`
 * (at most 64). Timestamps time the kernel alone, so a texture reader's staging copy, which the
 * model pays too, is added from the CPU clock.
 */
export async function timeBound(
  device: GPUDevice,
  k: BoundCandidate,
  samples = 3,
  targetMs = 4,
): Promise<number> {
  const once = await wallClock(device, k, 1);
  const repeats = Math.max(1, Math.min(64, Math.round(targetMs / Math.max(once, 0.01))));
  const times: number[] = [];
  for (let i = 0; i < samples; i++)
    times.push(
      timingMethod(device) === "timestamp"
        ? await timestamps(device, k, repeats)
        : await wallClock(device, k, repeats),
    );
  let copy = 0;
  if (k.stage && timingMethod(device) === "timestamp") {
    // The copies on the CPU clock, less an empty submit's own cost, so that a texture reader
    // is charged for its copy and not for a submit the kernel timings never include.
    const submitMs = async (record: (c: GPUCommandEncoder) => void) => {
      const commands = device.createCommandEncoder();
      record(commands);
      const start = performance.now();
      device.queue.submit([commands.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    };
    const copies = await submitMs((c) => {
      for (let r = 0; r < repeats; r++) k.stage!(c);
    });
    const empty = await submitMs(() => undefined);
    copy = Math.max(0, copies - empty) / repeats;
  }
  return median(times) + copy;
}
