// `csnc queue submit MANIFEST --queue URL --model FILE.csn [classify options]`: one job per
// video, its id the digest of the video's bytes and of the model, weights and sampling, so a
// video already queued or done is skipped. The model is checked before anything is enqueued;
// a manifest line naming no readable video is reported and the others are enqueued.
import { statSync } from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { printable } from "../../grammar/index.js";
import { loadWeights } from "../../runtime/load-weights.js";
import type { Naming } from "../../runtime/naming.js";
import { samplingOf, samplingOptions, type Sampling } from "../classify.js";
import type { CliIo } from "../io.js";
import { plainReason } from "../io.js";
import { isLabelsFile, readLabels } from "../labels.js";
import { integerOption, modelOptions, namingOption, weightsOption } from "../options.js";
import { readFile } from "../read-file.js";
import { modelFor } from "../session.js";
import {
  fileDigest,
  graphDigest,
  jobIdOf,
  maxUrlBytes,
  readManifest,
  sourceOf,
  urlDigest,
  type JobData,
  type JobSpec,
} from "./jobs.js";
import { openQueue, recordOrder, type OrderEntry } from "./store.js";
import { lostConnection } from "./connection.js";
import { boundedOption, queueOptions } from "./options.js";

interface SubmitOptions extends Omit<Sampling, "crops"> {
  queue?: string;
  name: string;
  model: string;
  weights?: string;
  naming: Naming | "auto";
  set: string[];
  seed: number;
  labels?: string;
  crops: string;
  attempts: number;
  backoff: number;
  json?: boolean;
}

export function submitCommand(io: CliIo): Command {
  const cmd = new Command("submit")
    .description("enqueue one classify job per video of a manifest (paths, URLs or JSON lines)")
    .argument("<manifest>", "a text file: one path or URL a line, or JSON lines {path, id?}")
    .requiredOption("--model <file>", "the .csn model file");
  queueOptions(cmd);
  cmd.addOption(weightsOption()).addOption(namingOption());
  samplingOptions(cmd)
    .addOption(integerOption("--seed <n>", "seed of random weights (without --weights)", 1))
    .addOption(modelOptions.find((o) => o.long === "--set")!)
    .addOption(boundedOption("--attempts <n>", "tries per job before it fails", 1, 100, 3))
    .addOption(
      boundedOption("--backoff <ms>", "first retry's delay, doubled each try", 0, 3_600_000, 1000),
    )
    .option("--json", "print the counts as JSON");
  return cmd.action((manifest: string, opts: SubmitOptions) => submit(io, manifest, opts));
}

async function submit(io: CliIo, manifestFile: string, opts: SubmitOptions): Promise<void> {
  const sampling = samplingOf(opts);
  const named = opts.labels ?? "kinetics400";
  const file = isLabelsFile(named);
  readLabels(named); // a bad labels file is refused here, not by every job
  const weights = opts.weights
    ? loadWeights(readFile(opts.weights, "weights"), opts.weights, opts.naming)
    : undefined;
  const input = `3x${sampling.frames}x${sampling.crop}x${sampling.crop}`;
  const graph = modelFor(
    io,
    opts.model,
    { set: opts.set ?? [], json: opts.json },
    { input, batch: "1" },
    weights,
  );
  if (!graph) return; // its diagnostics are printed; nothing is enqueued
  const manifest = readManifest(manifestFile);
  const absolute = (f: string) => path.resolve(f);
  const spec: JobSpec = {
    model: absolute(opts.model),
    modelDigest: await fileDigest(opts.model),
    graphDigest: graphDigest(graph),
    ...(opts.weights
      ? { weights: absolute(opts.weights), weightsDigest: await fileDigest(opts.weights) }
      : {}),
    naming: opts.naming,
    set: opts.set ?? [],
    seed: opts.seed,
    labels: file ? absolute(named) : named,
    ...(file ? { labelsDigest: await fileDigest(named) } : {}),
    sampling,
  };
  const h = await openQueue(opts.queue, opts.name);
  try {
    const problems = [...manifest.problems];
    const order: OrderEntry[] = [];
    const jobs = new Map<string, JobData>();
    const hashed = await mapLimit(manifest.entries, 8, async (e) => {
      try {
        const source = sourceOf(e.video, process.cwd());
        if (source.kind === "file") {
          const st = statSync(source.path);
          if (!st.isFile())
            throw new Error(st.isDirectory() ? "it is a folder" : "not a regular file");
          return { e, source: source.path, digest: await fileDigest(source.path) };
        }
        return { e, source: source.url, digest: await urlDigest(source.url, maxUrlBytes) };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why =
          code === "ENOENT" ? "no such file" : code ? plainReason(code) : (err as Error).message;
        problems.push({ line: e.line, message: `${e.video}: ${why}` });
        return undefined;
      }
    });
    for (const r of hashed) {
      if (!r) continue;
      const jobId = jobIdOf(r.digest, spec);
      order.push({ jobId, video: r.e.video, ...(r.e.id !== undefined ? { id: r.e.id } : {}) });
      if (!jobs.has(jobId))
        jobs.set(jobId, { video: r.e.video, source: r.source, videoDigest: r.digest, spec });
    }
    const ids = [...jobs.keys()];
    const pipeline = h.client.pipeline();
    for (const id of ids) pipeline.exists(h.queue.toKey(id));
    const exists = ((await pipeline.exec()) ?? []).map(([, n]) => n === 1);
    const fresh = ids.filter((_, i) => !exists[i]);
    const jobOptions = {
      attempts: opts.attempts,
      backoff: { type: "exponential", delay: opts.backoff },
    };
    for (let i = 0; i < fresh.length; i += 100)
      await h.queue.addBulk(
        fresh.slice(i, i + 100).map((jobId) => ({
          name: "classify",
          data: jobs.get(jobId)!,
          opts: { ...jobOptions, jobId },
        })),
      );
    await recordOrder(h, order);
    problems.sort((a, b) => a.line - b.line);
    const skipped = order.length - fresh.length;
    if (opts.json) {
      io.out(JSON.stringify({ enqueued: fresh.length, skipped, problems }, null, 2));
    } else {
      for (const p of problems)
        io.err(`${printable(manifestFile)}:${p.line}: ${printable(p.message)}`);
      io.out(
        `enqueued ${fresh.length}, skipped ${skipped} (already queued or done) on ${h.target.shown} queue ${opts.name}` +
          (problems.length
            ? `; ${problems.length} line${problems.length > 1 ? "s" : ""} not submitted`
            : ""),
      );
    }
    io.exitCode(problems.length > 0 ? 1 : 0);
  } catch (e) {
    throw lostConnection(h.target, e);
  } finally {
    await h.close();
  }
}

/** `f` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  f: (t: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
