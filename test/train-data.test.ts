// Training data: the synthetic motion task (deterministic, balanced, unsolvable from one frame,
// solvable from motion), `csnc data synth`, the data set reader's refusals, and video lists
// decoded, augmented and skipped when unreadable.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { prepareVideo } from "../runtime/classify.js";
import { CsncError } from "../runtime/errors.js";
import { writeSafetensors, type WrittenData } from "../runtime/safetensors.js";
import { cutClip, planClip, type ClipPlan } from "../runtime/train/augment.js";
import {
  checkLabels,
  readTensorDataset,
  readVideoList,
  videoClips,
} from "../runtime/train/dataset.js";
import { prng, synthClips, synthMotions } from "../runtime/train/synth.js";
import { csncRunner, refusal } from "./csnc-process.js";
import { run } from "./helpers.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-train-data-"));

/** Two arrays hold the same bytes (vitest's toEqual is slow on millions of elements). */
const same = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

describe("the synthetic motion task", () => {
  const opts = { classes: 4, clips: 240, frames: 8, size: 32, seed: 7 };
  const set = synthClips(opts);
  const [N, C, T, S] = set.shape;
  const plane = S * S;
  const at = (n: number, c: number, t: number) => ((n * C + c) * T + t) * plane;

  it("is deterministic per seed, and differs across seeds", () => {
    const again = synthClips(opts);
    expect(same(again.input, set.input)).toBe(true);
    expect(same(again.labels, set.labels)).toBe(true);
    const other = synthClips({ ...opts, seed: 8 });
    expect(same(other.input, set.input)).toBe(false);
    expect(same(other.labels, set.labels)).toBe(false);
    expect(set.shape).toEqual([240, 3, 8, 32, 32]);
    expect(set.classNames).toEqual(["right", "left", "down", "up"]);
  });

  it("balances classes and is roughly normalised", () => {
    const counts = [0, 0, 0, 0];
    for (const l of set.labels) counts[l]!++;
    expect(counts).toEqual([60, 60, 60, 60]);
    const odd = synthClips({ ...opts, clips: 10, classes: 3 }).labels;
    const oddCounts = [0, 1, 2].map((k) => odd.filter((l) => l === k).length).sort();
    expect(oddCounts).toEqual([3, 3, 4]);
    let sum = 0;
    let squares = 0;
    for (const v of set.input) {
      sum += v;
      squares += v * v;
    }
    expect(Math.abs(sum / set.input.length)).toBeLessThan(1e-3);
    expect(Math.sqrt(squares / set.input.length)).toBeCloseTo(1, 3);
  });

  // Per-frame features: per-channel mean and spread, and the frame pooled to 4 x 4.
  function frameFeatures(n: number, t: number): number[] {
    const f: number[] = [];
    for (let c = 0; c < 3; c++) {
      const base = at(n, c, t);
      let sum = 0;
      let squares = 0;
      const pooled = new Array(16).fill(0);
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++) {
          const v = set.input[base + y * S + x]!;
          sum += v;
          squares += v * v;
          pooled[Math.floor((4 * y) / S) * 4 + Math.floor((4 * x) / S)] += v / (plane / 16);
        }
      f.push(sum / plane, Math.sqrt(squares / plane), ...pooled);
    }
    return f;
  }

  it("hides the label from every single frame: nearest centroids are near chance", () => {
    for (const t of [0, T - 1]) {
      const features = [...Array(N).keys()].map((n) => frameFeatures(n, t));
      const half = N / 2;
      const centroids = [0, 1, 2, 3].map((k) => {
        const members = features.slice(0, half).filter((_, n) => set.labels[n] === k);
        return members[0]!.map((_, i) => members.reduce((a, m) => a + m[i]!, 0) / members.length);
      });
      let correct = 0;
      for (let n = half; n < N; n++) {
        const distance = (k: number) =>
          centroids[k]!.reduce((a, v, i) => a + (v - features[n]![i]!) ** 2, 0);
        const guess = [0, 1, 2, 3].reduce((b, k) => (distance(k) < distance(b) ? k : b), 0);
        if (guess === set.labels[n]) correct++;
      }
      // Chance is 0.25 (sd 0.04 over 120 clips).
      expect(correct / half, `frame ${t}`).toBeLessThan(0.4);
      if (process.env.CSNC_SHOW) console.log(`single frame ${t}: ${correct / half}`);
    }
  });

  it("tells the label by motion: a shift-matching estimator is right > 95% of the time", () => {
    const motions = synthMotions(4, T, S);
    // Frames with their per-channel mean removed; each class's shift of frame 0 matched
    // against frame t (the frame wraps around).
    function score(n: number, dx: number, dy: number): number {
      let total = 0;
      for (let c = 0; c < 3; c++) {
        const centred = (t: number) => {
          const f = set.input.subarray(at(n, c, t), at(n, c, t) + plane);
          const mean = f.reduce((a, v) => a + v, 0) / plane;
          return Float64Array.from(f, (v) => v - mean);
        };
        const first = centred(0);
        for (let t = 1; t < T; t++) {
          const frame = centred(t);
          const sx = Math.round(t * dx);
          const sy = Math.round(t * dy);
          for (let y = 0; y < S; y++)
            for (let x = 0; x < S; x++)
              total +=
                frame[y * S + x]! *
                first[((((y - sy) % S) + S) % S) * S + ((((x - sx) % S) + S) % S)]!;
        }
      }
      return total;
    }
    let correct = 0;
    for (let n = 0; n < N; n++) {
      const scores = motions.map((m) => score(n, m.dx, m.dy));
      if (scores.indexOf(Math.max(...scores)) === set.labels[n]) correct++;
    }
    if (process.env.CSNC_SHOW) console.log(`motion: ${correct / N}`);
    expect(correct / N).toBeGreaterThan(0.95);
  });

  it("gives 16 classes: 8 directions, then 8 at twice the speed", () => {
    const m = synthMotions(16, 8, 32);
    expect(m.map((x) => x.name).slice(8, 10)).toEqual(["right-fast", "left-fast"]);
    expect(m[8]!.dx).toBeCloseTo(2 * m[0]!.dx);
    expect(() => synthClips({ ...opts, classes: 17 })).toThrow(
      /classes must be an integer from 2 to 16/,
    );
  });
});

describe("csnc data synth", () => {
  it("writes a data set readTensorDataset reads, with the generator's parameters", async () => {
    const file = path.join(work, "synth.safetensors");
    const r = await run("data", "synth", "--classes", "4", "--clips", "12", "--frames", "4");
    expect(r.code).toBe(2); // -o is required
    expect(r.err).toMatch(/--output/);
    const args = ["--clips", "12", "--frames", "4", "--size", "16", "--seed", "3", "-o", file];
    const ok = await run("data", "synth", ...args);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/12 clips of 3x4x16x16, 4 classes \(right, left, down, up\)/);
    const d = readTensorDataset(readFileSync(file), file);
    expect(d.shape).toEqual([12, 3, 4, 16, 16]);
    const direct = synthClips({ classes: 4, clips: 12, frames: 4, size: 16, seed: 3 });
    expect(same(d.input, direct.input)).toBe(true);
    expect(same(d.labels, direct.labels)).toBe(true);
    expect(d.metadata.seed).toBe("3");
    expect(JSON.parse(d.metadata.class_names!)).toEqual(["right", "left", "down", "up"]);
    // The labels are I64, as PyTorch's cross-entropy takes them.
    const header = readFileSync(file)
      .subarray(8, 8 + 2000)
      .toString();
    expect(header).toMatch(/"labels":\{"dtype":"I64","shape":\[12\]/);
  });

  it.each([
    [["--classes", "1"], "--classes must be an integer from 2 to 16, got '1'"],
    [["--classes", "17"], "--classes must be an integer from 2 to 16, got '17'"],
    [["--frames", "1"], "--frames must be an integer from 2 to 256, got '1'"],
    [["--size", "4"], "--size must be an integer from 8 to 512, got '4'"],
    [["--clips", "0"], "--clips must be an integer from 1 to 1000000, got '0'"],
    [["--seed", "x"], "--seed must be an integer from 0 to 4294967295, got 'x'"],
    [["--clips", "1000000", "--size", "512"], "GiB; the limit is 1 GiB"],
  ])("refuses %j with exit 2", async (bad, message) => {
    const r = await run("data", "synth", ...bad, "-o", path.join(work, "bad.safetensors"));
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it("exits 2 on a bad option and writes the file, as the executable", () => {
    const csnc = csncRunner(60_000);
    const bad = csnc("data", "synth", "--size", "4", "-o", path.join(work, "x.safetensors"));
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--size must be an integer from 8 to 512, got '4'");
    const file = path.join(work, "spawned.safetensors");
    const ok = csnc("data", "synth", "--clips", "4", "--size", "8", "--frames", "2", "-o", file);
    expect(ok.code, ok.err).toBe(0);
    expect(readTensorDataset(readFileSync(file), file).shape).toEqual([4, 3, 2, 8, 8]);
  }, 60_000);

  it("names an output it cannot write", async () => {
    const r = await run("data", "synth", "--clips", "2", "-o", path.join(work, "no/such/x.st"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot write .*no\/such\/x\.st: folder .* does not exist/);
  });
});

describe("readTensorDataset", () => {
  const clip = (n: number) => new Float32Array(n * 3 * 2 * 4 * 4).fill(0.5);
  const file = (tensors: [string, number[], WrittenData][]) =>
    writeSafetensors(new Map(tensors.map(([name, shape, data]) => [name, { shape, data }])));
  const read = (tensors: [string, number[], WrittenData][]) =>
    refusal(() => readTensorDataset(file(tensors), "d.safetensors"));
  const labels = (...v: number[]) => BigInt64Array.from(v, (x) => BigInt(x));

  it("reads I64 and I32 labels", () => {
    const a = readTensorDataset(
      file([
        ["input", [2, 3, 2, 4, 4], clip(2)],
        ["labels", [2], labels(1, 0)],
      ]),
      "d",
    );
    expect([...a.labels]).toEqual([1, 0]);
    const b = readTensorDataset(
      file([
        ["input", [2, 3, 2, 4, 4], clip(2)],
        ["labels", [2], Int32Array.of(3, 2)],
      ]),
      "d",
    );
    expect([...b.labels]).toEqual([3, 2]);
  });

  it("refuses each malformed data set, naming the file", () => {
    const input: [string, number[], WrittenData] = ["input", [2, 3, 2, 4, 4], clip(2)];
    const good: [string, number[], WrittenData] = ["labels", [2], labels(0, 1)];
    expect(read([good])).toMatch(/^d\.safetensors: no 'input' tensor .*its tensors: 'labels'/);
    expect(read([input])).toMatch(/^d\.safetensors: no 'labels' tensor/);
    expect(read([["input", [2, 3, 2, 4, 4], new Int32Array(192)], good])).toMatch(
      /'input' is I32; a data set's input is F32/,
    );
    expect(read([input, ["labels", [2], Float32Array.of(0, 1.5)]])).toMatch(
      /label 1 is 1\.5, not an integer/,
    );
    expect(read([["input", [2, 3, 8, 4], clip(2)], good])).toMatch(
      /'input' has shape \[2, 3, 8, 4\]; expected \[N, 3, T, H, W\]/,
    );
    expect(read([input, ["labels", [2, 1], labels(0, 1)]])).toMatch(/expected \[N\], one per clip/);
    expect(read([input, ["labels", [3], labels(0, 1, 2)]])).toMatch(
      /'input' holds 2 clips but 'labels' 3 labels/,
    );
    const nan = clip(2);
    nan[150] = NaN;
    expect(read([["input", [2, 3, 2, 4, 4], nan], good])).toMatch(
      /'input' holds NaN \(not a finite number\) in clip 1/,
    );
    expect(read([input, ["labels", [2], labels(0, -1)]])).toMatch(/label 1 is -1; labels are/);
    expect(refusal(() => readTensorDataset(Uint8Array.of(1, 2), "d.safetensors"))).toMatch(
      /^d\.safetensors: not a valid safetensors file/,
    );
  });

  it("checkLabels names the first label out of the model's classes", () => {
    expect(() => checkLabels(Int32Array.of(0, 3, 2), 4, "d")).not.toThrow();
    const e = refusal(() => checkLabels(Int32Array.of(0, 4, 9), 4, "d.safetensors"));
    expect(e).toBe("d.safetensors: label 1 is 4, but the model has 4 classes (labels 0 to 3)");
    const list = refusal(() => checkLabels([0, 1, 7], 4, "list.csv", [2, 3, 5]));
    expect(list).toBe("list.csv:5: label is 7, but the model has 4 classes (labels 0 to 3)");
  });
});

describe("video lists", () => {
  const where = "/data/list.csv";

  it("reads path,label rows: header, comments, blank lines, quoted paths, CRLF", () => {
    const text = 'path,label\r\n# a comment\n\na.mp4,0\r\n"b,c ""x"".mp4", 2\n/abs/d.mkv ,1\n';
    expect(readVideoList(text, where, "/data")).toEqual([
      { path: "/data/a.mp4", label: 0, line: 4 },
      { path: '/data/b,c "x".mp4', label: 2, line: 5 },
      { path: "/abs/d.mkv", label: 1, line: 6 },
    ]);
  });

  it.each([
    ["a.mp4\n", "list.csv:1: expected path,label"],
    ["# c\na,b.mp4,1\n", "list.csv:2: expected path,label but found 3 fields; quote a path"],
    ['"a.mp4,1\n', "list.csv:1: a quoted path has no closing quote"],
    ["a.mp4,-1\n", "list.csv:1: label '-1' is not a class index"],
    ["a.mp4,x\n", "list.csv:1: label 'x' is not a class index"],
    [" ,1\n", "list.csv:1: the path is empty"],
    ["path,label\n# nothing\n", "list.csv: no videos"],
  ])("refuses %j", (text, message) => {
    expect(refusal(() => readVideoList(text, where, "/data"))).toContain(message);
  });

  function makeVideo(name: string, size: string, frames: number): string {
    const file = path.join(work, name);
    execFileSync("ffmpeg", [
      ...["-y", "-v", "error", "-f", "lavfi", "-i", `testsrc=size=${size}:rate=10`],
      ...["-frames:v", String(frames), "-c:v", "ffv1", "-pix_fmt", "yuv444p", file],
    ]);
    return file;
  }
  const sampling = { frames: 4, rate: 2, size: 40, crop: 32, norm: "vmz" } as const;

  it("decodes clips, skipping (and counting) an unreadable video", async () => {
    makeVideo("one.mkv", "64x48", 20);
    makeVideo("two,three.mkv", "48x64", 6); // shorter than a clip's span: its frames loop
    writeFileSync(path.join(work, "broken.mp4"), "not a video at all");
    const csv = path.join(work, "list.csv");
    writeFileSync(csv, 'path,label\none.mkv,1\nbroken.mp4,0\n"two,three.mkv",2\n');
    const list = readVideoList(readFileSync(csv, "utf8"), csv, work);
    const val = await videoClips(list, sampling, { train: false, seed: 0 });
    expect(val.shape).toEqual([2, 3, 4, 32, 32]);
    expect([...val.labels]).toEqual([1, 2]);
    expect(val.skipped).toHaveLength(1);
    expect(val.skipped[0]!.path).toBe(path.join(work, "broken.mp4"));
    expect(val.skipped[0]!.reason).toMatch(/broken\.mp4: not a readable video/);
    // Validation is classify's centre clip and centre crop, exactly.
    const classify = { ...sampling, clips: 1, crops: 1 as const, labels: [] };
    const centre = await prepareVideo(list[0]!.path, classify);
    expect(same(val.clips.subarray(0, centre.views.length), centre.views)).toBe(true);

    // Training: random crops and flips, the same for a seed, others for another.
    const train = (seed: number) => videoClips(list, sampling, { train: true, seed });
    const a = await train(1);
    expect(same((await train(1)).clips, a.clips)).toBe(true);
    expect(a.skipped).toHaveLength(1);
    for (const seed of [2, 3]) expect(same((await train(seed)).clips, a.clips)).toBe(false);
    expect(same(a.clips, val.clips)).toBe(false);
  }, 20_000);

  it("plans random crops and flips in bounds, from the seed alone", () => {
    const video = { frames: 30, width: 64, height: 48 };
    const s = { ...sampling, crop: { height: 24, width: 40 } };
    const plans = [...Array(200).keys()].map((i) => planClip(video, s, prng(i)));
    expect(planClip(video, s, prng(5))).toEqual(plans[5]);
    const flips = plans.filter((p) => p.flip).length;
    expect(flips).toBeGreaterThan(70);
    expect(flips).toBeLessThan(130);
    for (const p of plans) {
      expect(p.resized.width - 40).toBeGreaterThanOrEqual(p.origin[0]);
      expect(p.resized.height - 24).toBeGreaterThanOrEqual(p.origin[1]);
      expect(Math.min(p.resized.width, p.resized.height)).toBeGreaterThanOrEqual(35); // 40 * 0.875
      expect(p.indices[3]! - p.indices[0]!).toBe(6);
    }
    expect(new Set(plans.map((p) => p.origin.join())).size).toBeGreaterThan(20);
    const centre = planClip(video, s, undefined);
    expect(centre).toMatchObject({ flip: false, resized: { width: 53, height: 40 } });
    expect(centre.origin).toEqual([6, 8]);
  });

  it("flips a crop horizontally", () => {
    const frame = Uint8Array.from({ length: 6 * 4 * 3 }, (_, i) => i);
    const frames = new Map([[0, frame]]);
    const plan: ClipPlan = {
      indices: [0],
      looped: false,
      resized: { width: 6, height: 4 },
      origin: [1, 1],
      flip: false,
    };
    const crop = { height: 2, width: 3 };
    const plain = cutClip(frames, plan, crop, "vmz");
    const flipped = cutClip(frames, { ...plan, flip: true }, crop, "vmz");
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 3; x++)
          expect(flipped[c * 6 + y * 3 + x]).toBe(plain[c * 6 + y * 3 + 2 - x]);
    expect(flipped).not.toEqual(plain);
  });

  it("refuses a list too large to hold", async () => {
    const list = [...Array(100_000).keys()].map((i) => ({ path: `${i}.mp4`, label: 0, line: i }));
    const big = { ...sampling, frames: 32, crop: 224 };
    await expect(videoClips(list, big, { train: false, seed: 0 })).rejects.toBeInstanceOf(
      CsncError,
    );
  });
});
