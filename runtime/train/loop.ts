// The training loop: batches drawn in an order that is a function of (seed, epoch), learning
// rates a function of the step, dropout masks of (seed, step) and GPU kernels without atomics,
// so a run resumed from a checkpoint at step k continues exactly as the uninterrupted one.
import { prng } from "../random.js";
import { learningRate, type ScheduleOptions } from "./schedule.js";
import type { Trainer } from "./trainer.js";

/** Clips and labels, N x (C x T x H x W) values. */
export interface ClipSet {
  readonly input: Float32Array;
  readonly labels: ArrayLike<number>;
  readonly count: number;
}

export interface StepLog {
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly lr: number;
  readonly clipsPerSecond: number;
}

export interface EpochLog {
  readonly epoch: number;
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly valAccuracy?: number;
  readonly valLoss?: number;
  readonly seconds: number;
}

export interface LoopOptions {
  readonly trainer: Trainer;
  /** The training clips of an epoch (videos are augmented anew each epoch). */
  readonly train: (epoch: number) => Promise<ClipSet>;
  readonly val?: () => Promise<ClipSet>;
  readonly schedule: ScheduleOptions;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly seed: number;
  /** Batches per epoch (the last partial batch of an epoch is dropped). */
  readonly stepsPerEpoch: number;
  /** The first step to run: 0, or the step a checkpoint was saved after. */
  readonly startStep?: number;
  readonly onStep?: (log: StepLog) => void | Promise<void>;
  readonly onEpoch?: (log: EpochLog) => void | Promise<void>;
  /** Called after `checkpointEvery` steps and at every epoch's end, with the steps done. */
  readonly checkpoint?: (stepsDone: number) => Promise<void>;
  readonly checkpointEvery?: number;
  /** Set to stop after the current step (the caller checkpoints). */
  readonly stop?: () => boolean;
}

export type LoopEnd =
  | { readonly status: "done"; readonly steps: number }
  | { readonly status: "stopped"; readonly steps: number }
  /** Step `steps + 1` had a non-finite loss or gradient: it changed nothing. */
  | { readonly status: "diverged"; readonly steps: number; readonly loss: number };

/** A permutation of 0..n-1 from (seed, epoch): Fisher-Yates over a small counter-based PRNG. */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const next = prng(
    (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0 || 1,
  );
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Evaluation-mode accuracy and mean loss over a clip set, in batches of the program's size. */
export async function evaluateSet(
  trainer: Trainer,
  set: ClipSet,
): Promise<{ accuracy: number; loss: number }> {
  const p = trainer.program;
  const per = set.input.length / set.count;
  let correct = 0;
  let loss = 0;
  for (let at = 0; at < set.count; at += p.batch) {
    const n = Math.min(p.batch, set.count - at);
    const logits = await trainer.evaluate(set.input.subarray(at * per, (at + n) * per));
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * p.classes, (i + 1) * p.classes);
      let best = 0;
      for (let j = 1; j < p.classes; j++) if (row[j]! > row[best]!) best = j;
      const label = Number(set.labels[at + i]);
      if (best === label) correct++;
      const max = row[best]!;
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      loss += Math.log(sum) - (row[label]! - max);
    }
  }
  return { accuracy: correct / set.count, loss: loss / set.count };
}

export async function trainLoop(o: LoopOptions): Promise<LoopEnd> {
  const { trainer } = o;
  const p = trainer.program;
  const total = o.schedule.totalSteps;
  let epochData: { epoch: number; set: ClipSet; order: Uint32Array } | undefined;
  const valSet = o.val ? await o.val() : undefined;
  let epochLoss = 0;
  let epochCorrect = 0;
  let epochSteps = 0;
  let epochStart = performance.now();
  for (let step = o.startStep ?? 0; step < total; step++) {
    const epoch = Math.floor(step / o.stepsPerEpoch);
    if (epochData?.epoch !== epoch) {
      const set = await o.train(epoch);
      epochData = { epoch, set, order: epochOrder(set.count, o.seed, epoch) };
    }
    const { set, order } = epochData;
    const per = set.input.length / set.count;
    const within = step % o.stepsPerEpoch;
    const input = new Float32Array(p.batch * per);
    const labels: number[] = [];
    for (let i = 0; i < p.batch; i++) {
      const clip = order[(within * p.batch + i) % set.count]!;
      input.set(set.input.subarray(clip * per, (clip + 1) * per), i * per);
      labels.push(Number(set.labels[clip]));
    }
    const lr = learningRate(step, o.schedule);
    const start = performance.now();
    const r = await trainer.step(
      { input, labels },
      { lr, momentum: o.momentum, weightDecay: o.weightDecay, seed: o.seed, step },
    );
    if (!r.finite) return { status: "diverged", steps: step, loss: r.loss };
    const seconds = (performance.now() - start) / 1000;
    epochLoss += r.loss;
    epochCorrect += r.correct;
    epochSteps++;
    await o.onStep?.({
      step: step + 1,
      epoch,
      loss: r.loss,
      accuracy: r.correct / p.batch,
      lr,
      clipsPerSecond: p.batch / seconds,
    });
    const done = step + 1;
    const epochEnd = within === o.stepsPerEpoch - 1 || done === total;
    if (epochEnd) {
      const val = valSet ? await evaluateSet(trainer, valSet) : undefined;
      await o.onEpoch?.({
        epoch,
        step: done,
        loss: epochLoss / epochSteps,
        accuracy: epochCorrect / (epochSteps * p.batch),
        ...(val ? { valAccuracy: val.accuracy, valLoss: val.loss } : {}),
        seconds: (performance.now() - epochStart) / 1000,
      });
      epochLoss = epochCorrect = epochSteps = 0;
      epochStart = performance.now();
    }
    if (o.checkpoint && (epochEnd || (o.checkpointEvery && done % o.checkpointEvery === 0)))
      await o.checkpoint(done);
    if (o.stop?.() && done < total) return { status: "stopped", steps: done };
  }
  return { status: "done", steps: total };
}
