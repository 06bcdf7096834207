// `csnc classify VIDEO... --model FILE.csn --weights W`: the model zoos' test-time protocol on
// real videos: K clips x (1 or 3) crops per video, probabilities averaged over the views.
import { Command, Option } from "commander";
import { checkOutputFile, writeOutput, type CliIo } from "../../compiler/cli/io.js";
import { integerOption, maxInputElements, UsageError } from "../../compiler/cli/options.js";
import { CsncError } from "../errors.js";
import { writeSafetensors } from "../safetensors.js";
import {
  buildViews,
  decodeFrames,
  normalisations,
  probeVideo,
  resizedSize,
  sampleIndices,
  type Normalisation,
} from "../video.js";
import { sessionOptions } from "./run.js";
import { labelsFrom, modelFor, openSession, type SessionOptions } from "./session.js";
import { unlimitedLimits } from "../../compiler/kernels/common.js";
import { compileGraph } from "../../compiler/compile.js";

interface ClassifyOptions extends SessionOptions {
  model?: string;
  labels: string;
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

// How many views one inference may take: as many as fit the activation memory budget.
function viewsPerBatch(
  io: CliIo,
  opts: ClassifyOptions,
  T: number,
  crop: number,
  views: number,
  budget: number,
): number | undefined {
  const graph = modelFor(
    io,
    opts.model!,
    { ...opts, model: undefined },
    { input: `3x${T}x${crop}x${crop}`, batch: "1" },
  );
  if (!graph) return undefined;
  const perView = compileGraph(graph, unlimitedLimits).memory.activationBytes;
  return Math.max(1, Math.min(views, Math.floor(budget / perView)));
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
    )
    .option("--labels <set>", "kinetics400 or a file with one class name per line", "kinetics400")
    .addOption(integerOption("--frames <T>", "frames per clip", "--frames", 32))
    .addOption(integerOption("--rate <r>", "sampling rate (frame interval)", "--rate", 2))
    .addOption(integerOption("--size <s>", "shorter side after resizing", "--size", 256))
    .addOption(
      integerOption(
        "--crop <c>",
        "crop size, at most --size (the zoos use 224 or 256)",
        "--crop",
        224,
      ),
    )
    .addOption(
      integerOption(
        "--clips <K>",
        "clips per video, spread uniformly (the zoos use 1 or 10)",
        "--clips",
        1,
      ),
    )
    .addOption(new Option("--crops <n>", "1 (centre) or 3 crops").choices(["1", "3"]).default("1"))
    .addOption(
      new Option("--norm <stats>", "normalisation statistics")
        .choices(Object.keys(normalisations))
        .default("vmz"),
    )
    .option(
      "--dump-clips <file>",
      "write the tensors fed to the model (the first video's) as .safetensors",
    )
    .addOption(
      integerOption(
        "--memory <MiB>",
        "activation memory budget in MiB: views are batched to fit it",
        "--memory",
        1024,
      ),
    );
  sessionOptions(cmd, ["--model"]);
  return cmd.action(async (videos: string[], opts: ClassifyOptions) => {
    const { frames: T, rate, size, crop, clips } = opts;
    const crops = Number(opts.crops) as 1 | 3;
    if (crop > size) throw new UsageError(`--crop ${crop} is larger than --size ${size}`);
    const views = clips * crops;
    // Every view of a video is held at once (and dumped): bound them before decoding.
    const elements = views * 3 * T * crop * crop;
    if (elements > maxInputElements)
      throw new UsageError(
        `--clips ${clips} x --crops ${crops} views of --frames ${T} at --crop ${crop} would hold ${elements.toExponential(2)} values; the limit is ${maxInputElements} (4 GiB of float32): use fewer clips or frames, or a smaller crop`,
      );
    if (opts.dumpClips) checkOutputFile(opts.dumpClips);
    if (!opts.weights) io.err("note: no --weights: random weights, so the classes mean nothing");
    const labels = labelsFrom(opts.labels);
    const budget = opts.memory * 2 ** 20;
    const batchSize = viewsPerBatch(io, opts, T, crop, views, budget);
    if (batchSize === undefined) return;
    const session = await openSession(
      io,
      opts.model!,
      { ...opts, model: undefined },
      { input: `3x${T}x${crop}x${crop}`, batch: String(batchSize) },
      "--crop, --frames or --memory",
    );
    if (!session) return;
    const { plan, executor, device } = session;
    const classes = plan.logits.shape[1]!;
    if (labels.length !== classes)
      io.err(
        `note: ${labels.length} labels for ${classes} classes; unnamed classes show as numbers`,
      );
    const results: object[] = [];
    let failed = 0;
    try {
      for (const [n, video] of videos.entries()) {
        if (process.stderr.isTTY && !opts.json)
          process.stderr.write(`\r\x1b[K[${n + 1}/${videos.length}] ${video}`);
        try {
          const info = probeVideo(video);
          const { indices, looped } = sampleIndices(info.frames, T, rate, clips);
          const resized = resizedSize(info.width, info.height, size);
          if (Math.min(resized.width, resized.height) < crop)
            throw new CsncError(
              4005,
              `${video}: resized to ${resized.width}x${resized.height}, smaller than the crop`,
            );
          const frames = await decodeFrames(video, resized, new Set(indices.flat()));
          const batch = buildViews(frames, resized, indices, crop, crops, opts.norm);
          if (opts.dumpClips && n === 0)
            writeOutput(
              opts.dumpClips,
              writeSafetensors(
                new Map([["input", { shape: [views, 3, T, crop, crop], data: batch }]]),
              ),
            );
          // Views in batches of the compiled size; the last batch is padded and its padding ignored.
          const mean = new Float64Array(classes);
          const viewSize = batch.length / views;
          for (let first = 0; first < views; first += batchSize) {
            const chunk = new Float32Array(batchSize * viewSize);
            chunk.set(
              batch.subarray(first * viewSize, Math.min(views, first + batchSize) * viewSize),
            );
            const out = await executor.run(chunk);
            for (let v = 0; v < Math.min(batchSize, views - first); v++)
              for (let c = 0; c < classes; c++)
                mean[c] += out.probabilities[v * classes + c]! / views;
          }
          const top = [...mean.keys()]
            .sort((a, b) => mean[b]! - mean[a]!)
            .slice(0, 5)
            .map((c) => ({ class: c, label: labels[c] ?? String(c), probability: mean[c]! }));
          results.push({
            video,
            frames: info.frames,
            size: [info.width, info.height],
            views,
            looped,
            top,
          });
          if (!opts.json) {
            if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
            io.out(`${video}${looped ? " (shorter than one clip: frames loop)" : ""}`);
            for (const t of top)
              io.out(`  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${t.label}`);
          }
        } catch (e) {
          if (!(e instanceof CsncError || e instanceof UsageError)) throw e;
          failed++;
          results.push({ video, error: e.message });
          if (!opts.json) io.err(`csnc: error: ${e.message}`);
        }
      }
    } finally {
      executor.destroy();
      device.destroy();
    }
    if (opts.json) io.out(JSON.stringify({ model: plan.model, views, results }, null, 2));
    io.exitCode(failed > 0 ? 1 : 0);
  });
}
