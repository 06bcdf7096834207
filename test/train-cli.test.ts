// csnc grad, csnc train and csnc import for fine-tuning, as a user runs them: PyTorch's gradients
// in VMZ names in and out, a tiny model trained from `csnc data synth`, its weights run by
// `csnc run`, and bad input (labels, shapes, a diverging loss, a changed recipe, unreadable
// videos) reported before or without losing anything; an interrupted run resumes exactly.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../runtime/safetensors.js";
import { csncEntry, root } from "./csnc-process.js";
import { fixturesDir } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { run } from "./helpers.js";
import { tinyModel, trainDir } from "./train-fixture.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-train-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const at = (f: string) => path.join(work, f);
const tensorsOf = (file: string) => readSafetensors(readFileSync(file), file, { integers: true });

async function synth(name: string, clips: number, seed: number) {
  const r = await run(
    "data",
    "synth",
    "--classes",
    "4",
    "--clips",
    String(clips),
    "--frames",
    "4",
    "--size",
    "16",
    "--seed",
    String(seed),
    "-o",
    at(name),
  );
  expect(r.code, r.err).toBe(0);
}
const trainArgs = (out: string, extra: string[] = []) => [
  "train",
  tinyModel,
  "--data",
  at("train.safetensors"),
  "--batch",
  "8",
  "--lr",
  "0.05",
  "--seed",
  "3",
  "-o",
  at(out),
  ...extra,
];

describe("csnc grad", () => {
  it("gives PyTorch's loss and gradients in the checkpoint's VMZ names", async () => {
    const out = at("g.safetensors");
    const r = await run(
      "grad",
      path.join(root, "models/ir-csn-50.csn"),
      "--set",
      "width=4",
      "--set",
      "classes=5",
      "--weights",
      path.join(trainDir, "weights.safetensors"),
      "--input",
      path.join(trainDir, "step.safetensors"),
      "-o",
      out,
      "--backend",
      "llvmpipe",
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/161 gradients \(vmz names\)/);
    const got = tensorsOf(out).tensors;
    const want = tensorsOf(path.join(trainDir, "step.safetensors")).tensors;
    expect(Math.abs(got.get("loss")!.data![0]! - want.get("loss")!.data![0]!)).toBeLessThan(1e-5);
    const grads = [...want.keys()].filter((k) => k.startsWith("grad."));
    expect(grads).toHaveLength(161);
    for (const k of grads)
      expect(relL2(got.get(k)!.data!, want.get(k)!.data!), k).toBeLessThan(1e-3);
  });
});

describe("csnc train", () => {
  it("makes PyTorch's SGD step on SwiftShader: the weights and running statistics after it, in VMZ names", async () => {
    const out = at("one-step.safetensors");
    const r = await run(
      "train",
      path.join(root, "models/ir-csn-50.csn"),
      "--set",
      "width=4",
      "--set",
      "classes=5",
      "--weights",
      path.join(trainDir, "weights.safetensors"),
      "--data",
      path.join(trainDir, "step.safetensors"),
      "--steps",
      "1",
      "--batch",
      "2",
      "--lr",
      "0.1",
      "--momentum",
      "0.9",
      "--weight-decay",
      "1e-4",
      "--schedule",
      "const",
      "--no-dropout",
      "-o",
      out,
      "--backend",
      "swiftshader",
    );
    expect(r.code, r.err).toBe(0);
    const got = tensorsOf(out).tensors;
    const want = tensorsOf(path.join(trainDir, "after.safetensors")).tensors;
    expect(got.size).toBe(want.size);
    for (const [k, t] of want) expect(relL2(got.get(k)!.data!, t.data!), k).toBeLessThan(1e-3);
  });

  it("trains a tiny model whose weights csnc run takes directly, logging every step", async () => {
    await synth("train.safetensors", 32, 1);
    await synth("val.safetensors", 16, 2);
    const r = await run(
      ...trainArgs("tiny.safetensors", [
        "--val",
        at("val.safetensors"),
        "--epochs",
        "6",
        "--schedule",
        "const",
        "--backend",
        "llvmpipe",
      ]),
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/trained train_tiny for 24 steps .* val accuracy/);
    const log = readFileSync(at("tiny.log.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(log.filter((e) => e.type === "step")).toHaveLength(24);
    const epochs = log.filter((e) => e.type === "epoch");
    expect(epochs).toHaveLength(6);
    expect(epochs[5].loss).toBeLessThan(epochs[0].loss);
    expect(epochs[5].valAccuracy).toBeGreaterThanOrEqual(0);
    const w = tensorsOf(at("tiny.safetensors"));
    expect(w.metadata.csnc_naming).toBe("csnc");
    expect([...w.tensors.keys()].some((k) => k.endsWith(".running_var"))).toBe(true);
    const ran = await run(
      "run",
      tinyModel,
      "--weights",
      at("tiny.safetensors"),
      "--backend",
      "llvmpipe",
      "--labels",
      "none",
    );
    expect(ran.code, ran.err).toBe(0);
  });

  it("refuses labels out of range and a validation set of another clip shape before training", async () => {
    const data = tensorsOf(at("train.safetensors"));
    const labels = BigInt64Array.from(data.tensors.get("labels")!.integers!, (v, i) =>
      BigInt(i === 5 ? 9 : v),
    );
    writeFileSync(
      at("bad-labels.safetensors"),
      writeSafetensors(
        new Map([
          [
            "input",
            { shape: data.tensors.get("input")!.shape, data: data.tensors.get("input")!.data! },
          ],
          ["labels", { shape: [32], data: labels }],
        ]),
      ),
    );
    let r = await run(
      ...trainArgs("x.safetensors", ["--steps", "1"]).map((a) =>
        a === at("train.safetensors") ? at("bad-labels.safetensors") : a,
      ),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad-labels\.safetensors.*9/);
    expect(r.err).not.toMatch(/training train_tiny/);
    const r2 = await run(
      "data",
      "synth",
      "--classes",
      "4",
      "--clips",
      "8",
      "--frames",
      "4",
      "--size",
      "24",
      "-o",
      at("big.safetensors"),
    );
    expect(r2.code).toBe(0);
    r = await run(...trainArgs("x.safetensors", ["--steps", "1", "--val", at("big.safetensors")]));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /big\.safetensors: its clips are 3x4x24x24, the training clips 3x4x16x16/,
    );
  });

  it.each([
    [["--steps", "2", "--epochs", "1"], /exactly one of --steps and --epochs/],
    [["--steps", "0"], /--steps must be an integer/],
    [["--steps", "2", "--batch", "64"], /--batch 64 is more than the 32 training clips/],
    [["--steps", "2", "--lr", "-1"], /--lr -1: expected a number above 0/],
    [["--steps", "2", "--freeze", "res9"], /no layer res9/],
  ])("refuses %j", async (extra, message) => {
    const args = trainArgs("x.safetensors");
    const lr = args.indexOf("--lr");
    if (extra.includes("--lr")) args.splice(lr, 2);
    const r = await run(...args, ...extra);
    expect(r.code).toBeGreaterThanOrEqual(1);
    expect(r.code).toBeLessThanOrEqual(2);
    expect(r.err).toMatch(message);
  });

  it("stops on a non-finite loss and keeps the last good state", async () => {
    // Weights whose classifier overflows the logits: the first step's loss is NaN.
    const fresh = at("start.safetensors");
    let r = await run(
      ...trainArgs("start.safetensors", ["--steps", "1", "--lr", "1e-9"]).filter(
        (a, i, all) =>
          !(a === "--lr" && all[i + 1] === "0.05") && !(a === "0.05" && all[i - 1] === "--lr"),
      ),
    );
    expect(r.code, r.err).toBe(0);
    const start = tensorsOf(fresh);
    const fc = [...start.tensors.keys()].find((k) => k.endsWith("fc.weight"))!;
    const tensors = new Map(
      [...start.tensors].map(([k, t]) => [
        k,
        { shape: t.shape, data: k === fc ? new Float32Array(t.data!.length).fill(3e38) : t.data! },
      ]),
    );
    writeFileSync(at("overflow.safetensors"), writeSafetensors(tensors, start.metadata));
    r = await run(
      ...trainArgs("nan.safetensors", ["--steps", "3", "--weights", at("overflow.safetensors")]),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /step 1 gave a loss of NaN; training stopped\. The last good state \(after step 0\) is saved in .*nan\.ckpt\.safetensors.*lower --lr/,
    );
    const saved = tensorsOf(at("nan.ckpt.safetensors")).tensors;
    for (const [k, t] of tensors) expect(saved.get(k)!.data, k).toEqual(t.data);
  });

  it("resumes an interrupted run (Ctrl-C) to the uninterrupted run's weights, and refuses a changed recipe", async () => {
    const args = (out: string) => trainArgs(out, ["--steps", "40", "--backend", "llvmpipe"]);
    expect((await run(...args("straight.safetensors"))).code).toBe(0);
    // The real executable, interrupted once its log shows a few steps.
    const child = spawn(process.execPath, [...csncEntry(), ...args("cut.safetensors")], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setInterval(() => {
      const log = at("cut.log.jsonl");
      if (existsSync(log) && readFileSync(log, "utf8").split("\n").length > 4) {
        child.kill("SIGINT");
        clearInterval(timer);
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearInterval(timer);
    expect(code, err).toBe(130);
    expect(err).toMatch(/interrupted after step (\d+) of 40; continue with --resume/);
    expect(existsSync(at("cut.safetensors"))).toBe(false);
    const changed = await run(
      ...args("cut.safetensors"),
      "--resume",
      at("cut.ckpt.safetensors"),
      "--momentum",
      "0.5",
    );
    expect(changed.code).toBe(1);
    expect(changed.err).toMatch(/differs from the checkpoint's[\s\S]*momentum: 0\.9 -> 0\.5/);
    const other = await run(
      "train",
      path.join(root, "models/ir-csn-mini.csn"),
      "--data",
      at("train.safetensors"),
      "--steps",
      "40",
      "--batch",
      "8",
      "--lr",
      "0.05",
      "--seed",
      "3",
      "-o",
      at("other.safetensors"),
      "--resume",
      at("cut.ckpt.safetensors"),
    );
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/a checkpoint of train_tiny .*not of this model ir_csn_mini/);
    const resumed = await run(...args("cut.safetensors"), "--resume", at("cut.ckpt.safetensors"));
    expect(resumed.code, resumed.err).toBe(0);
    const want = tensorsOf(at("straight.safetensors")).tensors;
    const got = tensorsOf(at("cut.safetensors")).tensors;
    expect(got.size).toBe(want.size);
    for (const [k, t] of want) expect(got.get(k)!.data, k).toEqual(t.data);
  });

  it("fine-tunes a published checkpoint on new classes: the classifier re-initialised, a prefix frozen, VMZ names out", async () => {
    const weights = path.join(fixturesDir, "models/ir-csn-50-w8/weights.safetensors");
    const imported = at("imported.safetensors");
    const model = path.join(root, "models/ir-csn-50.csn");
    let r = await run(
      "import",
      weights,
      "--model",
      model,
      "--set",
      "width=8",
      "--set",
      "classes=4",
      "-o",
      imported,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/classifier fc has 10 classes and the model 4: re-initialised/);
    await synth("clips32.safetensors", 8, 4);
    r = await run(
      "train",
      model,
      "--weights",
      weights,
      "--set",
      "width=8",
      "--set",
      "classes=4",
      "--data",
      at("clips32.safetensors"),
      "--steps",
      "2",
      "--batch",
      "4",
      "--lr",
      "0.01",
      "--freeze",
      "stem,res2,res3,res4",
      "-o",
      at("tuned.safetensors"),
      "--backend",
      "llvmpipe",
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /classifier fc has 10 classes and the model 4: re-initialised for fine-tuning/,
    );
    const tuned = tensorsOf(at("tuned.safetensors"));
    expect(tuned.metadata.csnc_naming).toBe("vmz");
    const original = tensorsOf(weights).tensors;
    expect(tuned.tensors.get("stem.0.weight")!.data).toEqual(original.get("stem.0.weight")!.data);
    expect(tuned.tensors.get("layer4.0.conv1.0.weight")!.data).not.toEqual(
      original.get("layer4.0.conv1.0.weight")!.data,
    );
    expect(tuned.tensors.get("fc.weight")!.shape).toEqual([4, 256]);
    r = await run(
      "run",
      model,
      "--weights",
      at("tuned.safetensors"),
      "--shape",
      "1x3x4x16x16",
      "--labels",
      "none",
      "--backend",
      "llvmpipe",
    );
    expect(r.code, r.err).toBe(0);
  });

  it("trains on a video list, skipping and counting a video it cannot read", async () => {
    for (const [name, size] of [
      ["a.mkv", "40x32"],
      ["b.mkv", "32x40"],
    ])
      execFileSync("ffmpeg", [
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        `testsrc=size=${size}:rate=10`,
        "-frames:v",
        "12",
        "-c:v",
        "ffv1",
        at(name),
      ]);
    writeFileSync(at("broken.mp4"), "not a video");
    writeFileSync(at("videos.csv"), "path,label\na.mkv,0\nbroken.mp4,1\nb.mkv,3\n");
    const r = await run(
      "train",
      tinyModel,
      "--data",
      at("videos.csv"),
      "--frames",
      "4",
      "--size",
      "20",
      "--crop",
      "16",
      "--steps",
      "2",
      "--batch",
      "2",
      "--lr",
      "0.01",
      "-o",
      at("video.safetensors"),
      "--backend",
      "llvmpipe",
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/skipped 1 of 3 videos that could not be read:\n.*broken\.mp4/);
    // A label out of range is named by its line, past the unreadable row.
    writeFileSync(at("videos9.csv"), "path,label\na.mkv,0\nbroken.mp4,1\nb.mkv,9\n");
    const bad = await run(
      "train",
      tinyModel,
      "--data",
      at("videos9.csv"),
      "--frames",
      "4",
      "--size",
      "20",
      "--crop",
      "16",
      "--steps",
      "1",
      "--batch",
      "2",
      "--lr",
      "0.01",
      "-o",
      at("video9.safetensors"),
      "--backend",
      "llvmpipe",
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/videos9\.csv:4: label is 9, but the model has 4 classes/);
  });
});
