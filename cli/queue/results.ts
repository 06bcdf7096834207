// `csnc queue results [--output results.jsonl]`: one JSON line per manifest line, in the order
// submitted, each the record `csnc classify --json` prints for that video (a failed one's
// reason included), so a library classified by many machines reads as if by one.
import { Command } from "commander";
import { checkOutputFile, writeOutput, type CliIo } from "../io.js";
import type { JobResult } from "./jobs.js";
import { queueOptions } from "./options.js";
import { openQueue, readOrder, type OrderEntry, type QueueHandle } from "./store.js";
import { lostConnection } from "./connection.js";

interface ResultsOptions {
  queue?: string;
  name: string;
  output?: string;
  wait?: boolean;
}

/** A manifest line's outcome: its JSON record, or that it is not finished. */
type Outcome =
  { readonly kind: "done" | "failed"; readonly record: object } | { readonly kind: "pending" };

async function outcome(h: QueueHandle, e: OrderEntry): Promise<Outcome> {
  const job = await h.queue.getJob(e.jobId);
  const id = e.id !== undefined ? { id: e.id } : {};
  if (!job?.finishedOn) return { kind: "pending" };
  const r = job.returnvalue as JobResult | null;
  if (r?.record) return { kind: "done", record: { ...id, ...r.record, video: e.video } };
  return { kind: "failed", record: { ...id, video: e.video, error: job.failedReason } };
}

/** Every line's outcome, in order (a few requests at a time). */
export async function outcomes(h: QueueHandle): Promise<Outcome[]> {
  const order = await readOrder(h);
  const out: Outcome[] = [];
  for (let i = 0; i < order.length; i += 64)
    out.push(...(await Promise.all(order.slice(i, i + 64).map((e) => outcome(h, e)))));
  return out;
}

export function resultsCommand(io: CliIo): Command {
  const cmd = new Command("results").description(
    "print the results in manifest order, one JSON line per video, as csnc classify --json has them",
  );
  queueOptions(cmd)
    .option("--output <file>", "write the JSON lines to a file instead of standard output")
    .option("--wait", "wait until every submitted video is done or failed");
  return cmd.action(async (opts: ResultsOptions) => {
    if (opts.output) checkOutputFile(opts.output);
    const h = await openQueue(opts.queue, opts.name);
    try {
      let all = await outcomes(h);
      while (opts.wait && all.some((o) => o.kind === "pending")) {
        await new Promise((r) => setTimeout(r, 500));
        all = await outcomes(h);
      }
      const lines = all.flatMap((o) => (o.kind === "pending" ? [] : [JSON.stringify(o.record)]));
      if (opts.output) writeOutput(opts.output, lines.map((l) => l + "\n").join(""));
      else for (const l of lines) io.out(l);
      const failed = all.filter((o) => o.kind === "failed").length;
      const waiting = all.filter((o) => o.kind === "pending").length;
      if (waiting)
        io.err(
          `${waiting} of ${all.length} videos are not done yet (csnc queue status --watch shows them)`,
        );
      if (failed) io.err(`${failed} of ${all.length} videos failed; their lines say why`);
      if (!all.length) io.err("nothing was submitted to this queue");
      io.exitCode(failed || waiting ? 1 : 0);
    } catch (e) {
      throw lostConnection(h.target, e);
    } finally {
      await h.close();
    }
  });
}
