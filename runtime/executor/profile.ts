// Timing each dispatch of a plan on its own: with GPU timestamps where the device has them,
// else on the CPU clock.
import { BufferUsage, MapMode } from "./gpu-flags.js";
import type { PlanEncoder } from "./encode.js";

export interface DispatchTimes {
  /**
   * `timestamp`: GPU timestamps around each dispatch; `wall-clock`: timed on the CPU, one submit
   * per dispatch, short ones repeated within their submit (their staging copy included).
   */
  readonly method: "timestamp" | "wall-clock";
  /** Milliseconds per plan dispatch. */
  readonly ms: readonly number[];
}

async function timestamps(
  device: GPUDevice,
  count: number,
  e: PlanEncoder,
): Promise<DispatchTimes> {
  const querySet = device.createQuerySet({ type: "timestamp", count: 2 * count });
  const resolve = device.createBuffer({
    size: 16 * count,
    usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({
    size: 16 * count,
    usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  for (let i = 0; i < count; i++) {
    e.stage(encoder, i);
    const pass = encoder.beginComputePass({
      timestampWrites: {
        querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    e.dispatch(pass, i);
    pass.end();
  }
  encoder.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
  encoder.copyBufferToBuffer(resolve, 0, read, 0, 16 * count);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(MapMode.READ);
  const ticks = new BigInt64Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const x of [querySet, resolve, read]) x.destroy();
  return {
    method: "timestamp",
    ms: [...Array(count).keys()].map(
      (i) => Math.max(0, Number(ticks[2 * i + 1]! - ticks[2 * i]!)) / 1e6,
    ),
  };
}

// One submit costs a fixed submission and synchronisation overhead that would swamp small
// kernels, so short dispatches are repeated within one submit and the time divided.
async function wallClock(device: GPUDevice, count: number, e: PlanEncoder): Promise<DispatchTimes> {
  const submit = async (i: number, reps: number) => {
    const start = performance.now();
    const encoder = device.createCommandEncoder();
    e.stage(encoder, i);
    const pass = encoder.beginComputePass();
    for (let r = 0; r < reps; r++) e.dispatch(pass, i);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - start) / reps;
  };
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const once = await submit(i, 1);
    const reps = Math.min(16, Math.floor(20 / Math.max(once, 0.01)));
    ms.push(reps > 1 ? await submit(i, reps) : once);
  }
  return { method: "wall-clock", ms };
}

/** Each of `count` dispatches timed on its own (after an ordinary run has set the input). */
export function timeDispatches(
  device: GPUDevice,
  count: number,
  e: PlanEncoder,
): Promise<DispatchTimes> {
  return device.features.has("timestamp-query")
    ? timestamps(device, count, e)
    : wallClock(device, count, e);
}
