// What `csnc train` shows and records: a progress bar on a terminal (a line per epoch
// otherwise), and a JSONL log of every step and epoch.
import { appendFileSync } from "node:fs";
import type { EpochLog, StepLog } from "../runtime/train/loop.js";
import { outputError, type CliIo } from "./io.js";

export interface TrainReporter {
  step(s: StepLog): void;
  epoch(e: EpochLog): void;
  /** Clears the bar before other output. */
  clear(): void;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function trainReporter(
  io: CliIo,
  o: { readonly total: number; readonly log?: string; readonly quiet: boolean },
): TrainReporter {
  const tty = process.stderr.isTTY === true && !o.quiet;
  let rate = 0;
  const record = (entry: object) => {
    if (!o.log) return;
    try {
      appendFileSync(o.log, JSON.stringify(entry) + "\n");
    } catch (e) {
      throw outputError(e, o.log);
    }
  };
  return {
    step(s) {
      rate = rate === 0 ? s.clipsPerSecond : 0.9 * rate + 0.1 * s.clipsPerSecond;
      record({ type: "step", ...s, time: new Date().toISOString() });
      if (!tty) return;
      const width = 24;
      const filled = Math.round((width * s.step) / o.total);
      process.stderr.write(
        `\r\x1b[Kstep ${s.step}/${o.total} [${"=".repeat(filled)}${" ".repeat(width - filled)}] loss ${s.loss.toFixed(4)} acc ${pct(s.accuracy)} lr ${s.lr.toPrecision(3)} ${rate.toFixed(1)} clips/s`,
      );
    },
    epoch(e) {
      record({ type: "epoch", ...e, time: new Date().toISOString() });
      if (o.quiet) return;
      if (tty) process.stderr.write("\r\x1b[K");
      const val =
        e.valAccuracy !== undefined
          ? `, val acc ${pct(e.valAccuracy)} loss ${e.valLoss!.toFixed(4)}`
          : "";
      io.err(
        `epoch ${e.epoch + 1} (step ${e.step}/${o.total}): loss ${e.loss.toFixed(4)}, acc ${pct(e.accuracy)}${val}, ${e.seconds.toFixed(1)} s, ${rate.toFixed(1)} clips/s`,
      );
    },
    clear() {
      if (tty) process.stderr.write("\r\x1b[K");
    },
  };
}
