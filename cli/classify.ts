// `csnc classify VIDEO... --model FILE.csn --weights W`: the model zoos' test-time protocol on
// real videos: K clips x (1 or 3) crops per video, probabilities averaged over the views.
import { Command, Option } from "commander";
import {
  classifyVideos,
  videoRecord,
  viewsPerBatch,
  type ClassifyOptions as VideoOptions,
} from "../runtime/classify.js";
import { writeSafetensors } from "../runtime/safetensors.js";
import { normalisations, type Normalisation } from "../runtime/video.js";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import { classLabels, readLabels } from "./labels.js";
import { integerOption, maxInputElements, UsageError } from "./options.js";
import { sessionOptions } from "./run.js";
import { modelFor, openSession, type CliSession, type SessionOptions } from "./session.js";

interface ClassifyOptions extends SessionOptions {
  model?: string;
  labels?: string;
  frames: number;
  rate: number;
  size: number;
  crop: number;
  clips: number;
  crops: string;
  norm: Normalisation;
  dumpClips?: string;
  memory: number;
}

/** How clips are sampled and cropped: flags, help and default, in --help's order. */
export const sampling: [string, string, number][] = [
  ["--frames <T>", "frames per clip", 32],
  ["--rate <r>", "sampling rate (frame interval)", 2],
  ["--size <s>", "shorter side after resizing", 256],
  ["--crop <c>", "crop size, at most --size (the zoos use 224 or 256)", 224],
  ["--clips <K>", "clips per video, spread uniformly (the zoos use 1 or 10)", 1],
];

/** What a video's views are: clip sampling, crops and normalisation (classify's and the queue's). */
export type Sampling = Pick<
  VideoOptions,
  "frames" | "rate" | "size" | "crop" | "clips" | "crops" | "norm"
>;

/** Adds --labels and the sampling options (csnc classify's, csnc queue submit's), in --help's order. */
export function samplingOptions(cmd: Command): Command {
  cmd.option(
    "--labels <set>",
    "class names: kinetics400, a file with one per line, or none (default: kinetics400 for 400-class models)",
  );
  for (const [flags, description, value] of sampling)
    cmd.addOption(integerOption(flags, description, value));
  return cmd
    .addOption(new Option("--crops <n>", "1 (centre) or 3 crops").choices(["1", "3"]).default("1"))
    .addOption(
      new Option("--norm <stats>", "normalisation statistics")
        .choices(Object.keys(normalisations))
        .default("vmz"),
    );
}

/** The sampling options, checked: a crop within the frames, every view of a video in bounds. */
export function samplingOf(opts: Omit<Sampling, "crops"> & { crops: string }): Sampling {
  const { frames: T, rate, size, crop, clips, norm } = opts;
  const crops = Number(opts.crops) as 1 | 3;
  if (crop > size) throw new UsageError(`--crop ${crop} is larger than --size ${size}`);
  const views = clips * crops;
  // Every view of a video is held at once (and dumped): bound them before decoding.
  const elements = views * 3 * T * crop * crop;
  if (elements > maxInputElements)
    throw new UsageError(
      `--clips ${clips} x --crops ${crops} views of --frames ${T} at --crop ${crop} would hold ${elements.toExponential(2)} values; the limit is ${maxInputElements} (4 GiB of float32): use fewer clips or frames, or a smaller crop`,
    );
  return { frames: T, rate, size, crop, clips, crops, norm };
}

/**
 * The session classify runs videos on: `file`'s model at one view's input, compiled for as
 * many views per batch as `memoryMiB` of activations hold. Undefined after reporting errors.
 */
export async function openClassifySession(
  io: CliIo,
  file: string,
  opts: SessionOptions,
  s: Sampling,
  memoryMiB: number,
): Promise<CliSession | undefined> {
  const input = `3x${s.frames}x${s.crop}x${s.crop}`;
  const single = modelFor(io, file, { ...opts, model: undefined }, { input, batch: "1" });
  if (!single) return undefined;
  const budget = memoryMiB * 2 ** 20;
  const batchSize = viewsPerBatch(single, s.clips * s.crops, budget, opts.precision);
  return openSession(
    io,
    file,
    { ...opts, model: undefined },
    { input, batch: String(batchSize) },
    "--crop, --frames or --memory",
  );
}

export function classifyCommand(io: CliIo): Command {
  const cmd = new Command("classify")
    .description(
      "classify videos: sample clips, resize, crop and normalise as the model zoos test, run, average",
    )
    .argument("<videos...>", "video files (anything ffmpeg decodes)")
    .requiredOption(
      "--model <file>",
      "the .csn model file (a file here; elsewhere --model picks a model of a file)",
    );
  samplingOptions(cmd)
    .option(
      "--dump-clips <file>",
      "write the tensors fed to the model (the first video's) as .safetensors",
    )
    .addOption(
      integerOption(
        "--memory <MiB>",
        "activation memory budget in MiB: views are batched to fit it",
        1024,
      ),
    );
  sessionOptions(cmd, ["--model"]);
  return cmd.action(async (videos: string[], opts: ClassifyOptions) => {
    const sampled = samplingOf(opts);
    const { frames: T, crop, crops } = sampled;
    const views = sampled.clips * crops;
    if (opts.dumpClips)
      checkOutputFile(opts.dumpClips, [
        opts.model,
        opts.weights,
        opts.tuning,
        opts.labels,
        ...videos,
      ]);
    if (!opts.weights) io.err("note: no --weights: random weights, so the classes mean nothing");
    // A labels file is read before the work; which names apply once the classes are known.
    const labelsChoice = readLabels(opts.labels);
    const session = await openClassifySession(io, opts.model!, opts, sampled, opts.memory);
    if (!session) return;
    const { plan } = session;
    const classes = plan.logits.shape[1]!;
    const labels = classLabels(labelsChoice, classes, io.err);
    const results: object[] = [];
    let failed = 0;
    const progress = process.stderr.isTTY && !opts.json;
    try {
      const options = { ...sampled, labels };
      for await (const e of classifyVideos(session, videos, options)) {
        if (e.kind === "start") {
          if (progress)
            process.stderr.write(`\r\x1b[K[${e.index + 1}/${videos.length}] ${e.video}`);
        } else if (e.kind === "failed") {
          failed++;
          results.push(videoRecord(e));
          if (!opts.json) io.err(`csnc: error: ${e.error.message}`);
        } else {
          const { result } = e;
          if (opts.dumpClips && results.length === 0)
            writeOutput(
              opts.dumpClips,
              writeSafetensors(
                new Map([["input", { shape: [views, 3, T, crop, crop], data: e.views }]]),
              ),
            );
          results.push(videoRecord(e));
          if (!opts.json) {
            if (progress) process.stderr.write("\r\x1b[K");
            io.out(
              `${result.video}${result.looped ? " (shorter than one clip: frames loop)" : ""}`,
            );
            for (const t of result.top)
              io.out(`  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${t.label}`);
          }
        }
      }
    } finally {
      session.destroy();
    }
    if (opts.json) io.out(JSON.stringify({ model: plan.model, views, results }, null, 2));
    io.exitCode(failed > 0 ? 1 : 0);
  });
}
