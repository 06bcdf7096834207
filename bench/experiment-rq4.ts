// `npm run experiment:rq4 -- [--out rq4-out] [--seed 1] [--budget-steps 160] ...`: the CSN
// paper's RQ4 ("channel separation regularises: higher training error, lower test error than a
// dense ResNet3D of the same depth") on csnc's synthetic motion task. ir-CSN-26 and ResNet3D-26
// of one small width and depth train with the same budget (steps, batch, schedule, seed, data)
// on a deliberately small training set; train and held-out test accuracy are measured in
// evaluation mode every --eval-every epochs. Prints a table and writes curves.json and
// curves.svg into --out.
import { mkdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { columns, human, table } from "../cli/format.js";
import { checkFile, type Graph, type Value } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import type { TrainProgram } from "../compiler/train/program.js";
import type { Backend } from "../runtime/adapter-node.js";
import { startingTensors } from "../runtime/train/init.js";
import { evaluateSet, trainLoop, type ClipSet } from "../runtime/train/loop.js";
import { createNodeTrainer } from "../runtime/train/node.js";
import type { Schedule } from "../runtime/train/schedule.js";
import { synthClips } from "../runtime/train/synth.js";
import { svgCharts, type Series } from "./svg-plot.js";

const { values: args } = parseArgs({
  options: {
    out: { type: "string", default: "rq4-out" },
    seed: { type: "string", default: "1" },
    "budget-steps": { type: "string", default: "160" },
    batch: { type: "string", default: "8" },
    lr: { type: "string", default: "0.05" },
    schedule: { type: "string", default: "cosine" },
    warmup: { type: "string", default: "16" },
    momentum: { type: "string", default: "0.9" },
    "weight-decay": { type: "string", default: "1e-4" },
    dropout: { type: "boolean", default: false },
    width: { type: "string", default: "8" },
    blocks: { type: "string", default: "1" },
    frames: { type: "string", default: "8" },
    size: { type: "string", default: "32" },
    classes: { type: "string", default: "4" },
    "train-clips": { type: "string", default: "96" },
    "test-clips": { type: "string", default: "256" },
    "eval-every": { type: "string", default: "2" },
    backend: { type: "string", default: "auto" },
    pair: { type: "string", default: "26" },
  },
});
const log = (s: string) => process.stderr.write(s + "\n");
const int = (name: keyof typeof args, min = 1) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) {
    log(`experiment:rq4: --${name} must be an integer >= ${min}, got '${String(args[name])}'`);
    process.exit(2);
  }
  return v;
};
const num = (name: keyof typeof args) => {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < 0) {
    log(`experiment:rq4: --${name} must be a number >= 0, got '${String(args[name])}'`);
    process.exit(2);
  }
  return v;
};

const config = {
  seed: int("seed", 0),
  steps: int("budget-steps"),
  batch: int("batch"),
  lr: num("lr"),
  schedule: args.schedule as Schedule,
  warmup: int("warmup", 0),
  momentum: num("momentum"),
  weightDecay: num("weight-decay"),
  dropout: args.dropout!,
  width: int("width"),
  blocks: int("blocks"),
  frames: int("frames", 2),
  size: int("size", 8),
  classes: int("classes", 2),
  trainClips: int("train-clips"),
  testClips: int("test-clips"),
  evalEvery: int("eval-every"),
  backend: args.backend as Backend,
};
if (!["cosine", "step", "const"].includes(config.schedule)) {
  log(`experiment:rq4: --schedule must be cosine, step or const, got '${config.schedule}'`);
  process.exit(2);
}
if (config.trainClips < config.batch) {
  log(`experiment:rq4: --train-clips (${config.trainClips}) must be at least --batch`);
  process.exit(2);
}

// --pair 26: the paper's ir-CSN-26 against ResNet3D-26 (res2..res5 = --blocks); --pair mini:
// models/ir-csn-mini.csn (stem, one bottleneck, head) as ir-CSN and as ResNet3D (mode=resnet).
const pairs = {
  "26": [
    {
      key: "ir-csn",
      label: "ir-CSN-26",
      file: "models/ir-csn-26.csn",
      color: "#1f77b4",
      mode: undefined,
    },
    {
      key: "resnet3d",
      label: "ResNet3D-26",
      file: "models/resnet3d-26.csn",
      color: "#d62728",
      mode: undefined,
    },
  ],
  mini: [
    {
      key: "ir-csn",
      label: "ir-CSN-mini",
      file: "models/ir-csn-mini.csn",
      color: "#1f77b4",
      mode: "ir",
    },
    {
      key: "resnet3d",
      label: "ResNet3D-mini",
      file: "models/ir-csn-mini.csn",
      color: "#d62728",
      mode: "resnet",
    },
  ],
} as const;
const pair = args.pair as keyof typeof pairs;
if (!(pair in pairs)) {
  log(`experiment:rq4: --pair must be 26 or mini, got '${pair}'`);
  process.exit(2);
}
const models = pairs[pair];

/** A shipped model with integer parameters set, as the CLI's `--set` does. */
function graphOf(file: string, mode: string | undefined): Graph {
  const abs = path.resolve(file);
  const set: [string, Value][] = [
    ["width", { type: "int", value: config.width }],
    ["classes", { type: "int", value: config.classes }],
    ...(mode
      ? [["mode", { type: "enum", value: mode }] as [string, Value]]
      : ["res2", "res3", "res4", "res5"].map((k): [string, Value] => [
          k,
          { type: "int", value: config.blocks },
        ])),
  ];
  const r = checkFile(abs, projectRoot(abs), nodeHost, {
    set: new Map(set),
    input: [3, config.frames, config.size, config.size],
    batch: config.batch,
  });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graphs[0]!;
}

/** Trainable parameters (BN's included) and multiply-adds of one clip's forward pass. */
function cost(p: TrainProgram) {
  const params = p.params
    .filter((q) => !q.frozen)
    .reduce((a, q) => a + q.shape.reduce((x, y) => x * y, 1), 0);
  const flops = p.steps
    .filter((s) => s.phase === "forward")
    .reduce((a, s) => a + s.kernel.flops, 0);
  return { params, macs: flops / 2 / p.batch };
}

const asSet = (s: ReturnType<typeof synthClips>): ClipSet => ({
  input: s.input,
  labels: s.labels,
  count: s.labels.length,
});

interface Point {
  epoch: number;
  step: number;
  /** Mean loss and accuracy of the epoch's training steps (training mode, dropout/BN batch stats). */
  runningLoss: number;
  runningAccuracy: number;
  trainAccuracy: number;
  trainLoss: number;
  testAccuracy: number;
  testLoss: number;
  trainSeconds: number;
}

async function main() {
  const t0 = performance.now();
  const synth = (clips: number, seed: number) =>
    asSet(
      synthClips({
        classes: config.classes,
        clips,
        frames: config.frames,
        size: config.size,
        seed,
      }),
    );
  // The test set's seed differs from the training set's: other shapes, colours, positions.
  const trainSeed = config.seed;
  const testSeed = config.seed + 1_000_003;
  const train = synth(config.trainClips, trainSeed);
  const test = synth(config.testClips, testSeed);
  const stepsPerEpoch = Math.floor(config.trainClips / config.batch);
  const epochs = Math.ceil(config.steps / stepsPerEpoch);
  log(
    `rq4: ${config.classes} classes, ${config.trainClips} training clips (seed ${trainSeed}), ${config.testClips} test clips (seed ${testSeed}), 3x${config.frames}x${config.size}x${config.size}; ${config.steps} steps of batch ${config.batch} (${stepsPerEpoch} per epoch, ${epochs} epochs)`,
  );
  const results: ((typeof models)[number] & {
    params: number;
    macs: number;
    status: string;
    trainSeconds: number;
    evalSeconds: number;
    curve: Point[];
  })[] = [];
  let adapter = "";
  for (const m of models) {
    const graph = graphOf(m.file, m.mode);
    const node = await createNodeTrainer({
      graph,
      backend: config.backend,
      dropout: config.dropout,
      tensors: (program) => ({ tensors: startingTensors(program, config.seed).tensors }),
    });
    for (const n of node.notes) log(`rq4: ${n}`);
    adapter = `${node.adapter.backend} (${node.adapter.description})`;
    const { params, macs } = cost(node.program);
    log(`rq4: ${m.label}: ${human(params)} parameters, ${human(macs)} MACs per clip, ${adapter}`);
    const curve: Point[] = [];
    let trainSeconds = 0;
    let evalSeconds = 0;
    const evaluate = async (epoch: number, step: number, running: [number, number]) => {
      const t = performance.now();
      const tr = await evaluateSet(node.trainer, train);
      const te = await evaluateSet(node.trainer, test);
      evalSeconds += (performance.now() - t) / 1000;
      curve.push({
        epoch,
        step,
        runningLoss: running[0],
        runningAccuracy: running[1],
        trainAccuracy: tr.accuracy,
        trainLoss: tr.loss,
        testAccuracy: te.accuracy,
        testLoss: te.loss,
        trainSeconds,
      });
      log(
        `  ${m.label} epoch ${epoch} step ${step}: running loss ${running[0].toFixed(3)}, train acc ${(100 * tr.accuracy).toFixed(1)}% (loss ${tr.loss.toFixed(3)}), test acc ${(100 * te.accuracy).toFixed(1)}% (loss ${te.loss.toFixed(3)}), ${trainSeconds.toFixed(0)} s`,
      );
    };
    await evaluate(0, 0, [NaN, NaN]);
    const end = await trainLoop({
      trainer: node.trainer,
      train: () => Promise.resolve(train),
      schedule: {
        lr: config.lr,
        schedule: config.schedule,
        totalSteps: config.steps,
        warmup: config.warmup,
      },
      momentum: config.momentum,
      weightDecay: config.weightDecay,
      seed: config.seed,
      stepsPerEpoch,
      onEpoch: async (e) => {
        trainSeconds += e.seconds;
        const epoch = e.epoch + 1;
        if (epoch % config.evalEvery === 0 || e.step === config.steps)
          await evaluate(epoch, e.step, [e.loss, e.accuracy]);
      },
    });
    node.destroy();
    if (end.status !== "done") log(`rq4: ${m.label}: ${end.status} after ${end.steps} steps`);
    results.push({ ...m, params, macs, status: end.status, trainSeconds, evalSeconds, curve });
  }

  const head = columns(
    ["model"],
    [
      "params",
      "MACs/clip",
      "train acc",
      "test acc",
      "gap",
      "train loss",
      "test loss",
      "best test",
      "train s",
    ],
  );
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const rows = results.map((r) => {
    const last = r.curve[r.curve.length - 1]!;
    const best = Math.max(...r.curve.map((c) => c.testAccuracy));
    return [
      r.label,
      human(r.params),
      human(r.macs),
      pct(last.trainAccuracy),
      pct(last.testAccuracy),
      `${(100 * (last.trainAccuracy - last.testAccuracy)).toFixed(1)} pt`,
      last.trainLoss.toFixed(3),
      last.testLoss.toFixed(3),
      pct(best),
      r.trainSeconds.toFixed(0),
    ];
  });
  const cpu = `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} threads`;
  const command = `npm run experiment:rq4 -- ${process.argv.slice(2).join(" ")}`.trim();
  const setup = `${models[0].label} vs ${models[1].label}, width ${config.width}${pair === "26" ? `, res2..res5 = ${config.blocks} block(s) each` : ""}, input 3x${config.frames}x${config.size}x${config.size}, batch ${config.batch}; ${config.classes} classes, ${config.trainClips} training / ${config.testClips} test clips; ${config.steps} steps, lr ${config.lr} ${config.schedule} (warm-up ${config.warmup}), momentum ${config.momentum}, weight decay ${config.weightDecay}, dropout ${config.dropout ? "on" : "off"}, seed ${config.seed}`;
  const report = `RQ4 on the synthetic motion task, ${adapter}; ${cpu}\n${setup}\n\n${table(head, rows)}\n\nacc and loss in evaluation mode (running BN statistics) after the last step; gap = train - test accuracy; chance = ${pct(1 / config.classes)}.`;
  console.log(report);

  const out = path.resolve(args.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, "curves.json"),
    JSON.stringify(
      {
        command,
        date: new Date().toISOString(),
        machine: cpu,
        adapter,
        config,
        trainSeed,
        testSeed,
        models: results.map((r) => ({
          model: r.label,
          file: r.file,
          params: r.params,
          macsPerClip: r.macs,
          status: r.status,
          trainSeconds: r.trainSeconds,
          evalSeconds: r.evalSeconds,
          curve: r.curve,
        })),
      },
      null,
      2,
    ) + "\n",
  );
  const series = (key: "trainAccuracy" | "testAccuracy" | "trainLoss" | "testLoss") =>
    results.map((r): Series => ({
      name: `${r.label} ${key.startsWith("train") ? "train" : "test"}`,
      color: r.color,
      dashed: key.startsWith("test"),
      points: r.curve.map((c) => [c.epoch, c[key]]),
    }));
  const svg = svgCharts(
    [
      {
        title: "Accuracy (evaluation mode)",
        xLabel: "epoch",
        yLabel: "accuracy",
        yMin: 0,
        yMax: 1,
        series: [...series("trainAccuracy"), ...series("testAccuracy")],
        reference: { y: 1 / config.classes, label: "chance" },
      },
      {
        title: "Loss (evaluation mode; clipped at 3 x chance's)",
        xLabel: "epoch",
        yLabel: "cross-entropy",
        yMin: 0,
        yMax: 3 * Math.log(config.classes),
        series: [...series("trainLoss"), ...series("testLoss")],
      },
    ],
    { caption: `${command}: ${setup}` },
  );
  writeFileSync(path.join(out, "curves.svg"), svg);
  log(
    `rq4: wrote ${path.join(out, "curves.json")} and curves.svg (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`,
  );
  process.exit(0);
}

await main();
