// `csnc train FILE --data D [--val V] (--steps N | --epochs E) --batch B --lr L ...`: SGD on
// WebGPU. Writes the trained weights in the scheme the --weights were read in (with the BN
// running statistics and the metadata `csnc run` needs), a JSONL log, and checkpoints that
// --resume continues exactly (the optimizer state included).
import { renameSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Command, Option } from "commander";
import { catalog } from "../grammar/codes.js";
import { CsncError } from "../runtime/errors.js";
import {
  readCheckpoint,
  recipeChanges,
  writeCheckpoint,
  type Recipe,
} from "../runtime/train/checkpoint.js";
import { checkLabels } from "../runtime/train/dataset.js";
import { schemeName } from "../runtime/train/init.js";
import { trainLoop } from "../runtime/train/loop.js";
import { schedules, type Schedule } from "../runtime/train/schedule.js";
import { writeSafetensors } from "../runtime/safetensors.js";
import type { Normalisation } from "../runtime/video.js";
import { normalisations } from "../runtime/video.js";
import { sampling } from "./classify.js";
import { checkOutputFile, outputError, writeOutput, type CliIo } from "./io.js";
import {
  backendOption,
  integerOption,
  modelOptions,
  namingOption,
  UsageError,
  weightsOption,
} from "./options.js";
import { readFile } from "./read-file.js";
import { openTrainData } from "./train-data.js";
import { trainReporter } from "./train-log.js";
import { openTrainModel, type TrainModelOptions } from "./train-model.js";

interface TrainOptions extends TrainModelOptions {
  data?: string;
  val?: string;
  steps?: number;
  epochs?: number;
  batch: number;
  lr?: string;
  momentum: string;
  weightDecay: string;
  schedule: Schedule;
  warmup: number;
  dropout: boolean;
  output?: string;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: string;
  log?: string;
  frames: number;
  rate: number;
  size: number;
  crop: number;
  norm: Normalisation;
  json?: boolean;
}

function real(text: string, option: string, min: number, max: number, open = false): number {
  const v = Number(text);
  if (
    !/^[\d.eE+-]+$/.test(text.trim()) ||
    !Number.isFinite(v) ||
    v < min ||
    v > max ||
    (open && v === min)
  )
    throw new UsageError(
      `${option} ${text.slice(0, 40)}: expected a number ${open ? "above" : "from"} ${min} ${open ? "up " : ""}to ${max}`,
    );
  return v;
}

const writingLog = (write: () => void) => {
  try {
    write();
  } catch (e) {
    throw outputError(e);
  }
};

const atomically = (file: string, data: Uint8Array) => {
  const tmp = `${file}.${process.pid}.tmp`;
  writeOutput(tmp, data);
  renameSync(tmp, file);
};

export function trainCommand(io: CliIo): Command {
  const cmd = new Command("train")
    .description(
      "train a model on WebGPU with SGD (momentum, weight decay, a learning-rate schedule)",
    )
    .argument("<file>", "a .csn model")
    .option(
      "--data <file>",
      "training clips: a .safetensors of input [N,3,T,H,W] and labels [N], or a .csv of path,label rows",
    )
    .option("--val <file>", "validation clips, as --data; evaluated after every epoch")
    .addOption(integerOption("--steps <n>", "optimizer steps in all (or --epochs)"))
    .addOption(integerOption("--epochs <n>", "passes over --data (or --steps)"))
    .addOption(integerOption("--batch <n>", "clips per step", 8))
    .option("--lr <rate>", "peak learning rate")
    .option("--momentum <m>", "SGD momentum", "0.9")
    .option("--weight-decay <wd>", "L2 weight decay on every parameter", "1e-4")
    .addOption(
      new Option("--schedule <name>", "learning-rate schedule")
        .choices(schedules)
        .default("cosine"),
    )
    .addOption(
      integerOption(
        "--warmup <steps>",
        "steps of linear learning-rate warm-up",
        0,
        "train --warmup",
      ),
    )
    .option("--no-dropout", "make dropout layers the identity")
    .option(
      "--freeze <layers>",
      "comma-separated layer paths or prefixes kept fixed (e.g. stem,res2)",
    )
    .option(
      "-o, --output <file>",
      "the trained weights (.safetensors; default <model>.trained.safetensors)",
    )
    .option("--checkpoint <file>", "where checkpoints go (default <output>.ckpt.safetensors)")
    .addOption(
      integerOption(
        "--checkpoint-every <steps>",
        "also checkpoint every this many steps (always at each epoch's end)",
      ),
    )
    .option("--resume <file>", "continue from a checkpoint of the same run")
    .option("--log <file>", "JSONL log of every step and epoch (default <output>.log.jsonl)")
    .addOption(weightsOption())
    .addOption(namingOption())
    .addOption(backendOption())
    .addOption(
      integerOption(
        "--seed <n>",
        "seed of the initial weights, batch order, augmentation and dropout",
        1,
      ),
    );
  for (const [flags, description, value] of sampling.filter(([f]) => !f.startsWith("--clips")))
    cmd.addOption(integerOption(flags, `video lists: ${description}`, value));
  cmd.addOption(
    new Option("--norm <stats>", "video lists: normalisation statistics")
      .choices(Object.keys(normalisations))
      .default("vmz"),
  );
  cmd.option("--json", "print the summary as JSON");
  for (const o of modelOptions.filter((o) => !["--input", "--batch"].includes(o.long!)))
    cmd.addOption(o);
  return cmd.action(async (file: string, opts: TrainOptions) => {
    if (!opts.data)
      throw new UsageError(
        "train needs --data (a .safetensors of input and labels, or a .csv video list)",
      );
    if (opts.lr === undefined)
      throw new UsageError("train needs --lr (the peak learning rate, e.g. 0.1)");
    if ((opts.steps === undefined) === (opts.epochs === undefined))
      throw new UsageError("train needs exactly one of --steps and --epochs");
    const lr = real(opts.lr, "--lr", 0, 100, true);
    const momentum = real(opts.momentum, "--momentum", 0, 0.999);
    const weightDecay = real(opts.weightDecay, "--weight-decay", 0, 1);
    const output =
      opts.output ?? `${path.basename(file).replace(/\.csn$/, "")}.trained.safetensors`;
    const checkpointFile =
      opts.checkpoint ?? `${output.replace(/\.safetensors$/, "")}.ckpt.safetensors`;
    const log = opts.log ?? `${output.replace(/\.safetensors$/, "")}.log.jsonl`;
    // No output may overwrite an input (a log appended to the data file, say).
    const inputs = [file, opts.data, opts.val, opts.weights, opts.resume].filter(
      (f): f is string => !!f,
    );
    // Compared as files (links, hard links); resuming into the checkpoint read is allowed.
    for (const f of [output, checkpointFile, log])
      if (f !== opts.resume) checkOutputFile(f, inputs);
    const resumed = opts.resume
      ? readCheckpoint(readFile(opts.resume, "checkpoint"), opts.resume)
      : undefined;

    // Data first: its shape, label and file errors come before any GPU work.
    const train = await openTrainData(io, opts.data, opts, { train: true, seed: opts.seed });
    const val = opts.val
      ? await openTrainData(io, opts.val, opts, { train: false, seed: opts.seed })
      : undefined;
    if (val && val.clip.join("x") !== train.clip.join("x"))
      throw new CsncError(
        catalog.trainingData.badDataset,
        `${opts.val}: its clips are ${val.clip.join("x")}, the training clips ${train.clip.join("x")}`,
      );
    if (opts.batch > train.count)
      throw new UsageError(
        `--batch ${opts.batch} is more than the ${train.count} training clips of ${opts.data}`,
      );
    const stepsPerEpoch = Math.floor(train.count / opts.batch);
    const total = opts.steps ?? opts.epochs! * stepsPerEpoch;

    const model = await openTrainModel(io, file, opts, train.clip, opts.batch, {
      dropout: opts.dropout,
      ...(resumed ? { resume: resumed.state.tensors, momentum: resumed.state.momentum } : {}),
      check: (graph) => {
        const then = resumed?.recipe;
        if (then && (then.model !== graph.model || then.params !== JSON.stringify(graph.params)))
          throw new CsncError(
            catalog.training.badCheckpoint,
            `${opts.resume}: a checkpoint of ${String(then.model)} (${String(then.params)}), not of this model ${graph.model} (${JSON.stringify(graph.params)})`,
          );
      },
    });
    if (!model) return;
    const { node, graph, weights } = model;
    try {
      const program = node.program;
      const first = await train.epoch(0);
      checkLabels(first.labels, program.classes, opts.data, train.lines);
      if (val) checkLabels((await val.epoch(0)).labels, program.classes, opts.val!, val.lines);
      const recipe: Recipe = {
        model: graph.model,
        params: JSON.stringify(graph.params),
        data: path.basename(opts.data),
        dataBytes: statSync(opts.data).size,
        ...(/\.(csv|txt)$/i.test(opts.data)
          ? { sampling: [opts.frames, opts.rate, opts.size, opts.crop, opts.norm].join(" ") }
          : {}),
        clips: train.count,
        batch: opts.batch,
        lr,
        momentum,
        weightDecay,
        schedule: opts.schedule,
        warmup: opts.warmup,
        total,
        seed: opts.seed,
        dropout: opts.dropout,
        freeze: (opts.freeze ?? "")
          .split(",")
          .map((f) => f.trim())
          .filter(Boolean)
          .sort()
          .join(","),
      };
      if (resumed) {
        const changes = recipeChanges(resumed.recipe, recipe);
        if (changes.length)
          throw new CsncError(
            catalog.training.badCheckpoint,
            `${opts.resume}: this run differs from the checkpoint's, so resuming would not continue it:\n${changes.map((c) => `  ${c}`).join("\n")}`,
          );
      }
      const naming = weights?.naming ?? "csnc";
      const shapes = new Map<string, readonly number[]>([
        ...program.params.map((p) => [p.name, p.shape] as const),
        ...program.running.flatMap((r) => [
          [`${r.layer}.running_mean`, [r.channels]] as const,
          [`${r.layer}.running_var`, [r.channels]] as const,
        ]),
      ]);
      const saveCheckpoint = async (steps: number) =>
        atomically(
          checkpointFile,
          writeCheckpoint(await node.trainer.readState(), steps, recipe, shapes),
        );
      // A fresh run starts its log anew; a resumed one appends to it.
      if (!resumed) writingLog(() => writeFileSync(log, ""));
      const reporter = trainReporter(io, { total, log, quiet: !!opts.json });
      if (!opts.json)
        io.err(
          `training ${graph.model} on ${node.adapter.backend} (${node.adapter.description}): ${train.count} clips, ${total} steps of ${opts.batch}${resumed ? `, resuming after step ${resumed.steps}` : ""}`,
        );
      let stop = false;
      // The first signal stops after the current step with a checkpoint; a second one at once.
      const onSignal = () => {
        if (stop) {
          reporter.clear();
          io.err("interrupted again: stopping now, without a new checkpoint");
          process.exit(130);
        }
        stop = true;
      };
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
      const start = performance.now();
      let last: { valAccuracy?: number; accuracy: number; loss: number } | undefined;
      const end = await trainLoop({
        trainer: node.trainer,
        train: (e) => train.epoch(e),
        ...(val ? { val: () => val.epoch(0) } : {}),
        schedule: { lr, schedule: opts.schedule, totalSteps: total, warmup: opts.warmup },
        momentum,
        weightDecay,
        seed: opts.seed,
        stepsPerEpoch,
        startStep: resumed?.steps ?? 0,
        onStep: (s) => reporter.step(s),
        onEpoch: (e) => {
          reporter.epoch(e);
          last = e;
        },
        checkpoint: saveCheckpoint,
        ...(opts.checkpointEvery ? { checkpointEvery: opts.checkpointEvery } : {}),
        stop: () => stop,
      }).finally(() => {
        for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onSignal);
        reporter.clear();
      });
      if (end.status === "diverged") {
        await saveCheckpoint(end.steps);
        throw new CsncError(
          catalog.training.diverged,
          `step ${end.steps + 1} gave ${Number.isFinite(end.loss) ? `a non-finite gradient (loss ${end.loss.toPrecision(4)})` : `a loss of ${end.loss}`}; training stopped. The last good state (after step ${end.steps}) is saved in ${checkpointFile}: start again from it with a lower --lr (now ${lr}) by --weights ${checkpointFile} (its momentum and step count start anew)`,
        );
      }
      if (end.status === "stopped") {
        await saveCheckpoint(end.steps);
        io.err(
          `interrupted after step ${end.steps} of ${total}; continue with --resume ${checkpointFile}`,
        );
        io.exitCode(130);
        return;
      }
      const state = await node.trainer.readState();
      const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
      for (const [csnc, data] of state.tensors)
        out.set(schemeName(program, csnc, naming), { shape: shapes.get(csnc)!, data });
      const metadata: Record<string, string> = {
        csnc_naming: naming,
        model: path.basename(file),
        model_parameters: JSON.stringify(graph.params),
        trained_steps: String(total),
        trained_on: path.basename(opts.data),
        ...(weights?.bnEps !== undefined ? { bn_eps: String(weights.bnEps) } : {}),
      };
      writeOutput(output, writeSafetensors(out, metadata));
      const seconds = (performance.now() - start) / 1000;
      const summary = {
        model: graph.model,
        adapter: node.adapter.description,
        backend: node.adapter.backend,
        steps: total,
        clips_per_second: ((total - (resumed?.steps ?? 0)) * opts.batch) / seconds,
        train_loss: last?.loss ?? null,
        train_accuracy: last?.accuracy ?? null,
        val_accuracy: last?.valAccuracy ?? null,
        output,
        checkpoint: checkpointFile,
        log,
      };
      if (opts.json) io.out(JSON.stringify(summary, null, 2));
      else
        io.out(
          `trained ${graph.model} for ${total} steps in ${seconds.toFixed(1)} s (${summary.clips_per_second.toFixed(1)} clips/s)${summary.val_accuracy !== null ? `; val accuracy ${(100 * summary.val_accuracy).toFixed(1)}%` : ""}; weights (${naming} names) in ${output}`,
        );
      io.exitCode(0);
    } finally {
      node.destroy();
    }
  });
}
