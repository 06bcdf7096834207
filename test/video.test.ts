// Video in, classes out: sampling, resizing, crops and normalisation checked against an
// independent computation on frames ffmpeg decodes separately; bad files fail cleanly.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors } from "../runtime/safetensors.js";
import { cropOrigins, resizedSize, sampleIndices } from "../runtime/video.js";
import { run } from "./helpers.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-video-"));
const model = path.resolve(import.meta.dirname, "../models/ir-csn-26.csn");
const kinetics = readFileSync(
  path.resolve(import.meta.dirname, "../runtime/labels/kinetics400.txt"),
  "utf8",
)
  .trim()
  .split("\n");

function makeVideo(name: string, size: string, rate: number, seconds: number): string {
  const file = path.join(work, name);
  execFileSync("ffmpeg", [
    "-y",
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    `testsrc=size=${size}:rate=${rate}`,
    "-t",
    String(seconds),
    "-c:v",
    "ffv1",
    "-pix_fmt",
    "yuv444p",
    file,
  ]);
  return file;
}

// One frame, decoded on its own by ffmpeg at the given size, as RGB bytes.
/** `csnc classify` of ir-CSN-26 at width 4 on 4 frames of 56 pixels, on llvmpipe, as JSON. */
function classify(videos: string[], extra: string[]) {
  const small = ["--model", model, "--set", "width=4", "--frames", "4", "--size", "56"];
  return run("classify", ...videos, ...small, ...extra, "--backend", "opengles", "--json");
}

function frameAt(file: string, index: number, width: number, height: number): Uint8Array {
  return execFileSync("ffmpeg", [
    "-v",
    "error",
    "-i",
    file,
    "-vf",
    `scale=${width}:${height}:flags=bilinear,select=eq(n\\,${index})`,
    "-frames:v",
    "1",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "pipe:1",
  ]);
}

describe("sampling and geometry (MMAction2's test-time rules, by hand)", () => {
  it("spreads clips uniformly and loops short videos", () => {
    // 100 frames, clips of 8 at rate 2 (span 16), 3 clips: average interval (100 - 16 + 1) / 3 = 28.33
    expect(sampleIndices(100, 8, 2, 3).indices.map((c) => c[0])).toEqual([14, 42, 70]);
    expect(sampleIndices(100, 8, 2, 1).indices[0]).toEqual([42, 44, 46, 48, 50, 52, 54, 56]);
    // 10 frames, span 16: starts at 0 and wraps around
    const short = sampleIndices(10, 8, 2, 1);
    expect(short.indices[0]).toEqual([0, 2, 4, 6, 8, 0, 2, 4]);
    expect(short.looped).toBe(true);
  });
  it("resizes the shorter side and crops centre or three ways", () => {
    expect(resizedSize(171, 129, 64)).toEqual({ width: 85, height: 64 }); // 171 * 64 / 129 = 84.8
    expect(resizedSize(90, 160, 64)).toEqual({ width: 64, height: 114 }); // 160 * 64 / 90 = 113.8
    expect(cropOrigins(85, 64, 56, 1)).toEqual([[14, 4]]);
    expect(cropOrigins(85, 64, 56, 3)).toEqual([
      [0, 4],
      [14, 4],
      [29, 4],
    ]);
    expect(cropOrigins(64, 114, 56, 3)).toEqual([
      [4, 0],
      [4, 29],
      [4, 58],
    ]);
  });
});

describe("csnc classify", () => {
  const videos = [
    ["odd 4:3 at 30 fps", "171x129", 30, 2],
    ["16:9 at 25 fps", "160x90", 25, 2],
    ["shorter than one clip", "97x131", 25, 0.4],
  ] as const;
  for (const [what, size, fps, seconds] of videos) {
    it(`${what}: the dumped clips match an independent decode, five Kinetics labels`, async () => {
      const file = makeVideo(`${what.replace(/\W+/g, "-")}.mkv`, size, fps, seconds);
      const dump = path.join(work, "dump.safetensors");
      const [T, rate, S, C] = [8, 2, 64, 56];
      const r = await run(
        "classify",
        file,
        "--model",
        model,
        "--set",
        "width=4",
        "--frames",
        String(T),
        "--rate",
        String(rate),
        "--size",
        String(S),
        "--crop",
        String(C),
        "--clips",
        "2",
        "--crops",
        "3",
        "--backend",
        "opengles",
        "--dump-clips",
        dump,
        "--json",
      );
      expect(r.code, r.err).toBe(0);
      const result = JSON.parse(r.out).results[0];
      expect(result.top).toHaveLength(5);
      for (const t of result.top) expect(kinetics).toContain(t.label);

      const frames = Number(
        execFileSync("ffprobe", [
          "-v",
          "error",
          "-count_frames",
          "-select_streams",
          "v:0",
          "-show_entries",
          "stream=nb_read_frames",
          "-of",
          "csv=p=0",
          file,
        ]).toString(),
      );
      expect(result.frames).toBe(frames);
      expect(result.looped).toBe(frames <= (T - 1) * rate); // a clip from frame 0 runs past the end
      const [w, h] = size.split("x").map(Number) as [number, number];
      const resized =
        w <= h
          ? { width: S, height: Math.round((h * S) / w) }
          : { width: Math.round((w * S) / h), height: S };
      const span = T * rate;
      const average = (frames - span + 1) / 2;
      const starts = [0, 1].map((k) =>
        frames > span - 1 ? Math.floor(k * average + average / 2) : 0,
      );
      const mean = [110.201, 100.64, 95.997];
      const std = [58.149, 56.47, 55.332];
      const got = readSafetensors(readFileSync(dump), dump).tensors.get("input")!;
      expect(got.shape).toEqual([6, 3, T, C, C]);
      // Spot-check every view and frame at a few pixels.
      const longer = resized.width >= resized.height;
      let view = 0;
      for (const start of starts) {
        for (let k = 0; k < 3; k++) {
          const x0 = longer
            ? [0, Math.floor((resized.width - C) / 2), resized.width - C][k]!
            : Math.floor((resized.width - C) / 2);
          const y0 = longer
            ? Math.floor((resized.height - C) / 2)
            : [0, Math.floor((resized.height - C) / 2), resized.height - C][k]!;
          for (let t = 0; t < T; t += 3) {
            const pixels = frameAt(
              file,
              (start + t * rate) % frames,
              resized.width,
              resized.height,
            );
            for (const [x, y] of [
              [0, 0],
              [C - 1, 7],
              [21, C - 1],
            ] as const) {
              for (let c = 0; c < 3; c++) {
                const want =
                  (pixels[((y0 + y) * resized.width + x0 + x) * 3 + c]! - mean[c]!) / std[c]!;
                expect(got.data![(((view * 3 + c) * T + t) * C + y) * C + x]).toBeCloseTo(want, 4);
              }
            }
          }
          view++;
        }
      }
    }, 120_000);
  }

  it("names classes only where the labels fit the model: Kinetics' for 400 classes, else numbers", async () => {
    const file = makeVideo("labels.mkv", "64x64", 25, 1);
    const four = ["--set", "classes=4", "--crop", "48"];
    const plain = await classify([file], four);
    expect(plain.code, plain.err).toBe(0);
    expect(plain.err).not.toMatch(/labels/);
    for (const t of JSON.parse(plain.out).results[0].top) expect(t.label).toBe(String(t.class));
    const none = await classify([file], [...four, "--labels", "none"]);
    expect(none.code, none.err).toBe(0);
    const kinetics = await classify([file], [...four, "--labels", "kinetics400"]);
    expect(kinetics.err).toMatch(/kinetics400 labels name 400 classes and this model has 4/);
    const names = path.join(work, "names.txt");
    writeFileSync(names, "left\nright\nup\n");
    const three = await classify([file], [...four, "--labels", names]);
    expect(three.err).toMatch(/names 3 classes and this model has 4: the rest show as numbers/);
    const labels = JSON.parse(three.out).results[0].top.map((t: { label: string }) => t.label);
    expect(labels.filter((l: string) => ["left", "right", "up", "3"].includes(l))).toHaveLength(4);
    const binary = path.join(work, "names.bin");
    writeFileSync(binary, Buffer.from([0x6c, 0, 0xff, 0x0a, 0x1b]));
    const refused = await classify([file], [...four, "--labels", binary]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/names\.bin: not a labels file \(binary/);
  }, 120_000);

  it("batches views to a memory budget with the same result", async () => {
    const file = makeVideo("budget.mkv", "80x60", 25, 1);
    const args = ["--crop", "48", "--clips", "2", "--crops", "3"];
    const all = JSON.parse((await classify([file], args)).out).results[0].top;
    const one = JSON.parse((await classify([file], [...args, "--memory", "1"])).out).results[0].top;
    expect(one.map((t: { class: number }) => t.class)).toEqual(
      all.map((t: { class: number }) => t.class),
    );
    one.forEach((t: { probability: number }, i: number) =>
      expect(t.probability).toBeCloseTo(all[i].probability, 5),
    );
  }, 120_000);

  it("reports corrupt, truncated, empty and non-video files without stopping the others", async () => {
    const good = makeVideo("good.mkv", "64x64", 25, 1);
    const bytes = readFileSync(good);
    const truncated = path.join(work, "truncated.mkv");
    writeFileSync(truncated, bytes.subarray(0, 300));
    const empty = path.join(work, "empty.mp4");
    writeFileSync(empty, "");
    const text = path.join(work, "notes.mp4");
    writeFileSync(text, "not a video at all");
    const missing = path.join(work, "missing.mp4");
    const r = await classify([truncated, empty, text, good, missing], ["--crop", "56"]);
    expect(r.code).toBe(1);
    const results = JSON.parse(r.out).results;
    expect(results).toHaveLength(5);
    for (const bad of [0, 1, 2, 4])
      expect(results[bad].error).toMatch(/not a readable video|could not decode/);
    expect(results[3].top).toHaveLength(5);
  }, 120_000);
});
