// `csnc queue submit|status|results`: a video library classified by many machines through a
// BullMQ queue on Redis (csnc worker runs the jobs). cli/queue/ holds the parts.
import { Command } from "commander";
import type { CliIo } from "./io.js";
import { resultsCommand } from "./queue/results.js";
import { statusCommand } from "./queue/status.js";
import { submitCommand } from "./queue/submit.js";

export function queueCommand(io: CliIo): Command {
  return new Command("queue")
    .description("classify videos on many machines: submit jobs to Redis, watch, collect results")
    .addCommand(submitCommand(io))
    .addCommand(statusCommand(io))
    .addCommand(resultsCommand(io));
}
