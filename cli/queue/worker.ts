// What a worker does with a job: check its data and files, compile the model once (one
// device, one session, reused while jobs share the spec), decode the video while another job
// may be on the device, run its views through the session and return classify's record with
// the timing and the adapter. Failures that no retry can mend are BullMQ's UnrecoverableError.
import { appendFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { UnrecoverableError, type Job } from "bullmq";
import { catalog } from "../../grammar/codes.js";
import { prepareVideo, runVideo, videoRecord } from "../../runtime/classify.js";
import { CsncError } from "../../runtime/errors.js";
import type { Backend } from "../../runtime/backends.js";
import { openClassifySession } from "../classify.js";
import { UsageError } from "../options.js";
import { writingFiles, type CliIo } from "../io.js";
import { classLabels, isLabelsFile, readLabels } from "../labels.js";
import type { CliSession } from "../session.js";
import { checkDigest, localFile, videoFile, type InputPolicy } from "./inputs.js";
import { checkJobData, specDigest, type JobData, type JobResult, type JobSpec } from "./jobs.js";

export interface WorkerSettings extends InputPolicy {
  readonly backend: Backend;
  /** Activation memory for a batch of views, MiB (classify's --memory). */
  readonly memory: number;
  readonly tuning?: string;
  /** Each result appended as a JSON line, and/or written to DIR/JOBID.json. */
  readonly output?: string;
  readonly outputDir?: string;
  /** The most bytes of a video fetched over http(s). */
  readonly maxUrlBytes: number;
}

/** Who ran a job: host:pid. */
export const workerName = `${hostname()}:${process.pid}`;

interface Loaded {
  readonly digest: string;
  readonly session: CliSession;
  readonly labels: readonly string[];
}

export interface Processor {
  process(job: Job<JobData, JobResult>): Promise<JobResult>;
  /** Frees the session and its device. */
  close(): Promise<void>;
}

// Codes of failures a retry may mend: the device (lost, out of memory), none of the input's.
const transient = new Set<number>(Object.values(catalog.devices));

export function createProcessor(io: CliIo, settings: WorkerSettings): Processor {
  let current: Loaded | undefined;
  // One job at a time on the device; decoding runs beside it.
  let device: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(f: () => Promise<T>): Promise<T> => {
    const r = device.then(f);
    device = r.catch(() => undefined);
    return r;
  };
  const drop = () => {
    try {
      current?.session.destroy();
    } catch {
      // a lost device may refuse: it is gone either way
    }
    current = undefined;
  };
  // `f` on the device with the session `spec` asks for: the loaded one, or a new one.
  const onDevice = <T>(spec: JobSpec, f: (l: Loaded) => Promise<T>): Promise<T> =>
    exclusive(async () => {
      const digest = specDigest(spec);
      if (current?.digest !== digest) {
        drop();
        current = await open(io, settings, spec, digest);
      }
      return f(current);
    });

  const process = async (job: Job<JobData, JobResult>): Promise<JobResult> => {
    const start = performance.now();
    let video = "(malformed job)";
    try {
      const data = checkJobData(job.data);
      video = data.video;
      io.out(`start ${job.id} ${video}`);
      const input = await videoFile(data.source, data.videoDigest, settings, settings.maxUrlBytes);
      try {
        const o = { ...data.spec.sampling, labels: [] };
        const prepared = await prepareVideo(video, o, input.file);
        const decoded = performance.now();
        await job.updateProgress(50);
        const r = await onDevice(data.spec, async ({ session, labels }) => {
          const ran = performance.now();
          const result = await runVideo(session, prepared, { ...o, labels });
          const done = performance.now();
          return {
            record: videoRecord({ kind: "done", ...result }),
            timing: {
              decodeMs: round(decoded - start),
              runMs: round(done - ran),
              totalMs: round(done - start),
            },
            adapter: session.adapter.description,
            worker: workerName,
          };
        });
        await job.updateProgress(100);
        write(settings, job.id!, r);
        return r;
      } finally {
        input.cleanup();
      }
    } catch (e) {
      throw failure(io, e, video, job, drop);
    }
  };

  return { process, close: () => exclusive(async () => drop()) };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** The error a job fails with: permanent ones unrecoverable, named as the manifest names it. */
function failure(io: CliIo, e: unknown, video: string, job: Job, dropSession: () => void): Error {
  const source = (job.data as Partial<JobData>)?.source;
  const named = (m: string) => (source ? m.split(source).join(video) : m);
  if (e instanceof CsncError) {
    if (transient.has(e.code)) {
      dropSession(); // a lost device takes its session with it: the retry opens a new one
      return new Error(named(e.message));
    }
    return new UnrecoverableError(named(e.message));
  }
  // A job's --set that does not parse will not parse on a retry either.
  if (e instanceof UsageError) return new UnrecoverableError(named(e.message));
  if (!(e instanceof Error)) return new Error(String(e));
  if (process.env.CSNC_DEBUG) io.err(e.stack ?? e.message);
  return e.message ? e : new Error(`${e.name || "an error"} without a message`);
}

/** Opens the session a spec asks for, after checking its files against the root and digests. */
async function open(
  io: CliIo,
  settings: WorkerSettings,
  spec: JobSpec,
  digest: string,
): Promise<Loaded> {
  const model = localFile(spec.model, settings, "model");
  await checkDigest(model, spec.modelDigest, "model");
  const weights = spec.weights ? localFile(spec.weights, settings, "weights") : undefined;
  if (weights) await checkDigest(weights, spec.weightsDigest!, "weights");
  let labels = spec.labels;
  if (isLabelsFile(spec.labels)) {
    labels = localFile(spec.labels, settings, "labels");
    await checkDigest(labels, spec.labelsDigest ?? "", "labels");
  }
  // The model's diagnostics become the job's failure reason.
  const said: string[] = [];
  const capture: CliIo = { out: (t) => said.push(t), err: (t) => said.push(t), exitCode: () => {} };
  const session = await openClassifySession(
    capture,
    model,
    {
      set: [...spec.set],
      naming: spec.naming as never,
      backend: settings.backend,
      seed: spec.seed,
      ...(weights ? { weights } : {}),
      ...(settings.tuning ? { tuning: settings.tuning } : {}),
    },
    spec.sampling,
    settings.memory,
  );
  if (!session)
    throw new CsncError(
      catalog.queue.refusedJob,
      `the model ${spec.model} does not check:\n${said.join("\n").slice(0, 4000)}`,
    );
  for (const line of said) io.err(line);
  io.out(
    `compiled ${session.plan.model} for ${session.plan.input.shape.join("x")} on ${session.adapter.description} in ${Math.round(session.compileMs)} ms`,
  );
  return {
    digest,
    session,
    labels: classLabels(readLabels(labels), session.plan.logits.shape[1]!),
  };
}

/** The result to the worker's own outputs, if it has any. */
function write(settings: WorkerSettings, jobId: string, r: JobResult): void {
  const line = JSON.stringify({ job: jobId, ...r });
  writingFiles(() => {
    if (settings.output) appendFileSync(settings.output, line + "\n");
    if (settings.outputDir)
      writeFileSync(path.join(settings.outputDir, `${jobId}.json`), line + "\n");
  });
}
