// `csnc worker --queue URL`: a long-running worker of a csnc queue. It pulls classify jobs,
// runs them on one device (the model compiled once), and stores each result in Redis. On
// SIGTERM or SIGINT it finishes its current jobs and exits; a worker that dies mid-job loses
// nothing: once its lock lapses, BullMQ's stalled-job check hands the job to another worker.
import { realpathSync, statSync } from "node:fs";
import { Command } from "commander";
import type { Backend } from "../runtime/backends.js";
import { checkOutputFile, prepareOutputDir, type CliIo } from "./io.js";
import { backendOption, integerOption, UsageError } from "./options.js";
import { childMarker } from "./quiet-native.js";
import { tuningOption } from "./tuning.js";
import { openClient, parseRedisUrl, queueUrl, workerConnection } from "./queue/connection.js";
import { boundedOption, queueOptions } from "./queue/options.js";
import { checkQueueName } from "./queue/store.js";
import { maxUrlBytes } from "./queue/jobs.js";

interface WorkerOptions {
  queue?: string;
  name: string;
  concurrency: number;
  backend: Backend;
  memory: number;
  tuning?: string;
  root?: string;
  allowHttp?: boolean;
  output?: string;
  outputDir?: string;
  lockDuration: number;
  stalledInterval: number;
  maxStalled: number;
}

export function workerCommand(io: CliIo): Command {
  const cmd = new Command("worker").description(
    "run classify jobs from a csnc queue on this machine's device until SIGTERM",
  );
  queueOptions(cmd)
    .addOption(boundedOption("--concurrency <n>", "jobs at once (decoding overlaps)", 1, 64, 1))
    .addOption(backendOption())
    .addOption(
      integerOption(
        "--memory <MiB>",
        "activation memory budget in MiB: views are batched to fit it",
        1024,
      ),
    )
    .addOption(tuningOption())
    .option("--root <dir>", "the folder every job's files must be in (default: the working folder)")
    .option("--allow-http", "fetch videos given as http(s) URLs (refused otherwise)")
    .option("--output <file>", "also append each result to this JSON-lines file")
    .option("--output-dir <dir>", "also write each result to DIR/JOBID.json")
    .addOption(
      boundedOption(
        "--lock-duration <ms>",
        "how long a job's lock lasts unless renewed: a dead worker's job is taken over after it; above the longest ffprobe of a video, which holds the worker up",
        1000,
        3_600_000,
        120_000,
      ),
    )
    .addOption(
      boundedOption(
        "--stalled-interval <ms>",
        "how often to look for jobs whose worker died",
        500,
        3_600_000,
        30_000,
      ),
    )
    .addOption(
      boundedOption("--max-stalled <n>", "times a job may stall before it fails", 1, 100, 2),
    );
  return cmd.action((opts: WorkerOptions) => runWorker(io, opts));
}

async function runWorker(io: CliIo, opts: WorkerOptions): Promise<void> {
  const target = parseRedisUrl(queueUrl(opts.queue));
  checkQueueName(opts.name);
  const rootGiven = opts.root ?? process.cwd();
  let root: string;
  try {
    root = realpathSync(rootGiven);
    if (!statSync(root).isDirectory()) throw new Error();
  } catch {
    throw new UsageError(`--root ${rootGiven} is not a folder`);
  }
  if (opts.output) checkOutputFile(opts.output);
  if (opts.outputDir) prepareOutputDir(opts.outputDir);
  // Reachable and the password right, or a clear error now rather than retries forever.
  (await openClient(target)).disconnect();
  const { createProcessor, workerName } = await import("./queue/worker.js");
  const processor = createProcessor(io, {
    root,
    allowHttp: opts.allowHttp ?? false,
    backend: opts.backend,
    memory: opts.memory,
    maxUrlBytes,
    ...(opts.tuning ? { tuning: opts.tuning } : {}),
    ...(opts.output ? { output: opts.output } : {}),
    ...(opts.outputDir ? { outputDir: opts.outputDir } : {}),
  });
  const { Worker } = await import("bullmq");
  const worker = new Worker(opts.name, (job) => processor.process(job), {
    connection: workerConnection(target),
    concurrency: opts.concurrency,
    lockDuration: opts.lockDuration,
    stalledInterval: opts.stalledInterval,
    maxStalledCount: opts.maxStalled,
  });
  // Redis going away shows once per outage, not once per retry.
  let lastError = "";
  worker.on("error", (e) => {
    const message = target.redact(e.message);
    if (message !== lastError) io.err(`csnc worker: ${message} (Redis ${target.shown}; retrying)`);
    lastError = message;
  });
  worker.on("completed", (job, r) => {
    lastError = "";
    io.out(`done ${job.id} ${job.data.video} in ${r.timing.totalMs} ms`);
  });
  worker.on("failed", (job, e) => {
    if (!job) return;
    const retry = job.attemptsMade < (job.opts.attempts ?? 1) && e.name !== "UnrecoverableError";
    io.out(
      `failed ${job.id} ${job.data?.video}: ${target.redact(e.message)}${retry ? ` (try ${job.attemptsMade} of ${job.opts.attempts}; retrying)` : ""}`,
    );
  });
  worker.on("stalled", (id) => io.out(`stalled ${id}: its worker died; back in the queue`));
  // In csnc's filtered child (quiet-native.ts) a parent killed outright (SIGKILL) would leave
  // this process running unseen: it stops too, and its job goes back once its lock lapses.
  if (process.env[childMarker] !== undefined) {
    const parent = process.ppid;
    setInterval(() => process.ppid !== parent && process.exit(1), 1000).unref();
  }
  io.out(
    `worker ${workerName} on ${target.shown} queue ${opts.name}, root ${root}: waiting for jobs`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      for (const s of ["SIGTERM", "SIGINT"] as const) process.off(s, stop);
      io.out(`${signal}: finishing the current jobs, then stopping`);
      resolve();
    };
    for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, stop);
  });
  // A second signal (a terminal's Ctrl-C reaches both csnc processes) changes nothing.
  const ignore = () => undefined;
  process.on("SIGTERM", ignore).on("SIGINT", ignore);
  await worker.close();
  await processor.close();
  io.out("stopped");
}
