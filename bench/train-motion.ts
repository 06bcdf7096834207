// `npm run bench:train-motion -- [--model models/ir-csn-mini.csn] [--clips 512] [--val 256]
// [--epochs 6] [--batch 8] [--lr 0.1] [--backend auto] [--seed 1]`: the issue's acceptance run
// for `csnc train`, as a user types it. `csnc data synth` makes a 4-class motion task (the class
// is the direction of motion) and a held-out set of another seed; `csnc train` trains on it
// with a validation pass per epoch. Prints a markdown table: the adapter, clips/s, the time to
// the first epoch at or above 90% validation accuracy, and the final accuracies.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "models/ir-csn-mini.csn" },
    clips: { type: "string", default: "512" },
    val: { type: "string", default: "256" },
    frames: { type: "string", default: "8" },
    size: { type: "string", default: "32" },
    epochs: { type: "string", default: "6" },
    batch: { type: "string", default: "8" },
    lr: { type: "string", default: "0.1" },
    backend: { type: "string", default: "auto" },
    seed: { type: "string", default: "1" },
    set: { type: "string", multiple: true, default: [] },
  },
});
const repo = path.resolve(import.meta.dirname, "..");
const bin = path.join(repo, "dist/cli/bin.js");
const work = mkdtempSync(path.join(tmpdir(), "csnc-bench-train-"));
const at = (f: string) => path.join(work, f);
const csnc = (...a: string[]) =>
  execFileSync(process.execPath, [bin, ...a], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });

const synth = (file: string, clips: string, seed: number) =>
  csnc(
    "data",
    "synth",
    "--classes",
    "4",
    "--clips",
    clips,
    "--frames",
    args.frames!,
    "--size",
    args.size!,
    "--seed",
    String(seed),
    "-o",
    at(file),
  );
synth("train.safetensors", args.clips!, Number(args.seed));
synth("val.safetensors", args.val!, Number(args.seed) + 1000);

const start = performance.now();
const summary = JSON.parse(
  csnc(
    "train",
    path.resolve(repo, args.model!),
    "--data",
    at("train.safetensors"),
    "--val",
    at("val.safetensors"),
    "--epochs",
    args.epochs!,
    "--batch",
    args.batch!,
    "--lr",
    args.lr!,
    "--no-dropout",
    "--seed",
    args.seed!,
    "--backend",
    args.backend!,
    "-o",
    at("trained.safetensors"),
    "--json",
    ...args.set!.flatMap((s) => ["--set", s]),
  ),
) as {
  adapter: string;
  backend: string;
  clips_per_second: number;
  val_accuracy: number;
  train_accuracy: number;
  steps: number;
};
const wall = (performance.now() - start) / 1000;
const epochs = readFileSync(at("trained.log.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map(
    (l) => JSON.parse(l) as { type: string; epoch: number; seconds: number; valAccuracy?: number },
  )
  .filter((e) => e.type === "epoch");
let elapsed = 0;
let reached: string = "not reached";
for (const e of epochs) {
  elapsed += e.seconds;
  if ((e.valAccuracy ?? 0) >= 0.9) {
    reached = `${elapsed.toFixed(0)} s (epoch ${e.epoch + 1})`;
    break;
  }
}
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? "CPU"}; ${path.basename(args.model!)} ${args.set!.join(" ")}; ${args.clips} training clips, ${args.val} validation clips of 3x${args.frames}x${args.size}x${args.size}`,
);
console.log("");
console.log(
  "| adapter | steps | clips/s | time to 90% val | final val acc | final train acc | wall (incl. start-up) |",
);
console.log("|---|---|---|---|---|---|---|");
console.log(
  `| ${summary.backend} (${summary.adapter}) | ${summary.steps} | ${summary.clips_per_second.toFixed(1)} | ${reached} | ${pct(summary.val_accuracy)} | ${pct(summary.train_accuracy)} | ${wall.toFixed(0)} s |`,
);
console.log("");
console.log("| epoch | val acc | seconds |");
console.log("|---|---|---|");
for (const e of epochs)
  console.log(`| ${e.epoch + 1} | ${pct(e.valAccuracy ?? 0)} | ${e.seconds.toFixed(1)} |`);
