// `csnc queue status`: how many jobs wait, run, are done or failed, with a progress bar;
// --watch redraws it until no job is left to run.
import { Command } from "commander";
import type { CliIo } from "../io.js";
import { queueOptions } from "./options.js";
import { openQueue, type QueueHandle } from "./store.js";
import { lostConnection } from "./connection.js";

interface StatusOptions {
  queue?: string;
  name: string;
  watch?: boolean;
  json?: boolean;
}

export interface Counts {
  readonly waiting: number;
  readonly active: number;
  readonly completed: number;
  readonly failed: number;
  /** Waiting out a retry's backoff. */
  readonly delayed: number;
}

/** The queue's counts; jobs waiting include paused and prioritised ones. */
export async function countJobs(h: QueueHandle): Promise<Counts> {
  const c = await h.queue.getJobCounts(
    "waiting",
    "paused",
    "prioritized",
    "active",
    "completed",
    "failed",
    "delayed",
  );
  return {
    waiting: (c.waiting ?? 0) + (c.paused ?? 0) + (c.prioritized ?? 0),
    active: c.active ?? 0,
    completed: c.completed ?? 0,
    failed: c.failed ?? 0,
    delayed: c.delayed ?? 0,
  };
}

/** Jobs not yet done or failed. */
export const pending = (c: Counts) => c.waiting + c.active + c.delayed;

/** One line: the counts and a bar of the finished share. */
export function statusLine(c: Counts, width = 30): string {
  const total = pending(c) + c.completed + c.failed;
  const finished = c.completed + c.failed;
  const filled = total ? Math.round((width * finished) / total) : width;
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
  const retrying = c.delayed ? `  retrying ${c.delayed}` : "";
  return `waiting ${c.waiting}  active ${c.active}  done ${c.completed}  failed ${c.failed}${retrying}  ${bar} ${finished}/${total}`;
}

export function statusCommand(io: CliIo): Command {
  const cmd = new Command("status").description(
    "count the queue's jobs: waiting, active, done, failed",
  );
  queueOptions(cmd)
    .option("--watch", "redraw the counts until no job is waiting or running")
    .option("--json", "print the counts as JSON");
  return cmd.action(async (opts: StatusOptions) => {
    const h = await openQueue(opts.queue, opts.name);
    try {
      let counts = await countJobs(h);
      const tty = process.stderr.isTTY && !opts.json;
      let last = "";
      while (opts.watch && pending(counts) > 0) {
        const line = statusLine(counts);
        if (tty) process.stderr.write(`\r\x1b[K${line}`);
        else if (line !== last && !opts.json) io.out(line);
        last = line;
        await new Promise((r) => setTimeout(r, 500));
        counts = await countJobs(h);
      }
      if (tty && last) process.stderr.write("\r\x1b[K");
      io.out(opts.json ? JSON.stringify(counts) : statusLine(counts));
    } catch (e) {
      throw lostConnection(h.target, e);
    } finally {
      await h.close();
    }
  });
}
