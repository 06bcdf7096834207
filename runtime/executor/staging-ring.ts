// Reused mappable buffers, so a steady-state run allocates nothing on the GPU. Dawn's
// `writeBuffer` and `writeTexture` take a fresh staging allocation per call (above 4 MiB a new,
// zero-filled buffer each time); instead, each upload writes into a buffer already mapped for
// writing, and each readback maps one of a few buffers for reading. A buffer re-enters its ring
// once its map resolves, that is once the GPU has finished the work that used it.
import { BufferUsage, MapMode } from "./gpu-flags.js";

export interface StagingRing {
  /** A buffer ready for its role: mapped for writing (uploads) or unmapped (readbacks). */
  acquire(): Promise<GPUBuffer>;
  /** An acquired upload buffer's mapped range (use this, not getMappedRange, once per mapping). */
  range(b: GPUBuffer): ArrayBuffer;
  /**
   * After the submit that used `b`: an upload buffer is mapped again for the next write and
   * rejoins the ring when that resolves.
   */
  recycle(b: GPUBuffer): void;
  /** A buffer back in the ring unchanged: a readback once read and unmapped, or one unused. */
  release(b: GPUBuffer): void;
  /** The ring is broken (a lost device): every wait for a buffer, now and later, fails. */
  fail(e: unknown): void;
  destroy(): void;
}

/**
 * A ring of `depth` buffers of `bytes`: `upload` ones (MAP_WRITE | COPY_SRC, created mapped)
 * or `readback` ones (MAP_READ | COPY_DST). `acquire` waits for a buffer when all are in flight.
 */
export function stagingRing(
  device: GPUDevice,
  kind: "upload" | "readback",
  bytes: number,
  depth: number,
): StagingRing {
  const all: GPUBuffer[] = [];
  const free: GPUBuffer[] = [];
  const waiting: { resolve: (b: GPUBuffer) => void; reject: (e: unknown) => void }[] = [];
  let failed: unknown;
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const fail = (e: unknown) => {
    failed ??= e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  const hand = (b: GPUBuffer) => {
    const next = waiting.shift();
    if (next) next.resolve(b);
    else free.push(b);
  };
  const firstRanges = new Map<GPUBuffer, ArrayBuffer>();
  // All made up front, so that no later run allocates.
  for (let i = 0; i < depth; i++) {
    const b = device.createBuffer({
      size,
      usage:
        kind === "upload"
          ? BufferUsage.MAP_WRITE | BufferUsage.COPY_SRC
          : BufferUsage.MAP_READ | BufferUsage.COPY_DST,
      mappedAtCreation: kind === "upload",
      label: `${kind} staging ${i}`,
    });
    // Zeroed here, not trusted to be: the clip texture's border and spare channels are never
    // written, and Dawn's disable_lazy_clear_for_mapped_at_creation_buffer leaves them as found.
    // A mapping's range can be got only once: the zeroed one is kept for the first write.
    if (kind === "upload") {
      const range = b.getMappedRange();
      new Uint8Array(range).fill(0);
      firstRanges.set(b, range);
    }
    all.push(b);
    free.push(b);
  }
  return {
    acquire() {
      if (failed !== undefined) return Promise.reject(failed);
      const ready = free.pop();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    recycle(b) {
      // A failed map (a lost device) fails every wait for a buffer, rather than hanging it.
      b.mapAsync(MapMode.WRITE).then(() => hand(b), fail);
    },
    range(b) {
      const first = firstRanges.get(b);
      firstRanges.delete(b);
      return first ?? b.getMappedRange();
    },
    release: hand,
    fail,
    destroy() {
      for (const b of all) b.destroy();
    },
  };
}
