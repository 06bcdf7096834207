// The update phase: every gradient and batch statistic checked first (a step with a
// non-finite one changes nothing: ReLU's max drops NaN, so the loss alone does not tell), then
// SGD on each trainable parameter, then the running statistics of BN layers not frozen.
import type { KernelLimits } from "../kernels/common.js";
import { bnRunningUpdate, type BnGeometry } from "./kernels/batchnorm.js";
import { finiteCheck, sgdUpdate } from "./kernels/elementwise.js";
import type { TrainKernel, TrainParam, TrainPhase, TrainRunning } from "./program.js";
import { elements } from "./geometry.js";

export interface BnStats {
  readonly layer: string;
  readonly geometry: BnGeometry;
  /** [mean, invstd, var] of the batch. */
  readonly stats: number;
  /** Frozen: normalised with its running statistics, which stay as they are. */
  readonly frozen: boolean;
}

export function emitUpdate(o: {
  readonly params: readonly TrainParam[];
  readonly running: readonly TrainRunning[];
  readonly bnStats: readonly BnStats[];
  readonly loss: number;
  readonly limits: KernelLimits;
  readonly step: (
    phase: TrainPhase,
    layer: string,
    kernel: TrainKernel,
    ids: readonly number[],
  ) => void;
}): void {
  const { params, loss, limits, step } = o;
  const trained = params.filter((p) => !p.frozen && p.grad !== undefined);
  const live = o.bnStats.filter((b) => !b.frozen);
  for (const p of trained)
    step("update", p.layer, finiteCheck(elements(p.shape), limits), [p.grad!, loss]);
  for (const b of live)
    step("update", b.layer, finiteCheck(3 * b.geometry.channels, limits), [b.stats, loss]);
  for (const p of trained)
    step("update", p.layer, sgdUpdate(elements(p.shape), limits), [
      p.buffer,
      p.grad!,
      p.momentum!,
      loss,
    ]);
  for (const b of live) {
    const r = o.running.find((x) => x.layer === b.layer)!;
    step("update", b.layer, bnRunningUpdate(b.geometry, limits), [b.stats, loss, r.buffer]);
  }
}
