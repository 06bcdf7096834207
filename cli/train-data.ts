// `csnc train --data D [--val V]`: a safetensors file of input and labels, or a CSV of
// `path,label` video rows decoded with classify's sampling (random crop and flip for training,
// anew each epoch; the centre crop for validation). Unreadable videos are skipped and counted.
import * as path from "node:path";
import type { Normalisation } from "../runtime/video.js";
import { catalog } from "../grammar/codes.js";
import { CsncError } from "../runtime/errors.js";
import type { ClipSet } from "../runtime/train/loop.js";
import {
  readTensorDataset,
  readVideoList,
  videoClips,
  type ClipSampling,
} from "../runtime/train/dataset.js";
import type { CliIo } from "./io.js";
import { readFile } from "./read-file.js";

export interface VideoSamplingOptions {
  frames: number;
  rate: number;
  size: number;
  crop: number;
  norm: Normalisation;
}

export interface TrainData {
  readonly file: string;
  /** C, T, H, W. */
  readonly clip: readonly [number, number, number, number];
  readonly count: number;
  /** A video list's line of each clip of the first epoch, for errors. */
  readonly lines?: readonly number[];
  /** The clips of an epoch; the first is loaded already (its errors came before training). */
  readonly epoch: (e: number) => Promise<ClipSet>;
}

const isCsv = (file: string) => /\.(csv|txt)$/i.test(file);

export async function openTrainData(
  io: CliIo,
  file: string,
  s: VideoSamplingOptions,
  o: { readonly train: boolean; readonly seed: number },
): Promise<TrainData> {
  if (!isCsv(file)) {
    const d = readTensorDataset(readFile(file, "data"), file);
    const set: ClipSet = { input: d.input, labels: d.labels, count: d.shape[0] };
    return {
      file,
      clip: d.shape.slice(1) as unknown as TrainData["clip"],
      count: set.count,
      epoch: async () => set,
    };
  }
  const text = new TextDecoder().decode(readFile(file, "video list"));
  const list = readVideoList(text, file, path.dirname(path.resolve(file)));
  if (list.length === 0)
    throw new CsncError(catalog.trainingData.badVideoList, `${file}: lists no videos`);
  const sampling: ClipSampling = {
    frames: s.frames,
    rate: s.rate,
    size: s.size,
    crop: s.crop,
    norm: s.norm,
  };
  let firstSkipped: string[] = [];
  const load = async (e: number): Promise<ClipSet> => {
    const v = await videoClips(list, sampling, {
      train: o.train,
      seed: (o.seed + Math.imul(e, 0x9e3779b1)) >>> 0,
    });
    if (e === 0) firstSkipped = v.skipped.map((k) => k.path);
    if (e === 0 && v.skipped.length) {
      io.err(
        `note: ${file}: skipped ${v.skipped.length} of ${list.length} videos that could not be read:`,
      );
      for (const k of v.skipped.slice(0, 5))
        io.err(`  ${k.reason.startsWith(k.path) ? k.reason : `${k.path}: ${k.reason}`}`);
      if (v.skipped.length > 5) io.err(`  ... and ${v.skipped.length - 5} more`);
    }
    if (v.labels.length === 0)
      throw new CsncError(
        catalog.trainingData.badVideoList,
        `${file}: none of its ${list.length} videos could be read`,
      );
    return { input: v.clips, labels: v.labels, count: v.labels.length };
  };
  const first = await load(0);
  const skipped = new Set(firstSkipped);
  const lines = list.filter((e) => !skipped.has(e.path)).map((e) => e.line);
  // Validation clips are the same every epoch; training clips are drawn anew.
  const epoch = o.train
    ? (e: number) => (e === 0 ? Promise.resolve(first) : load(e))
    : async () => first;
  return { file, clip: [3, s.frames, s.crop, s.crop], count: first.count, lines, epoch };
}
