// The model zoos' test-time protocol on real videos (`csnc classify`): K clips x (1 or 3) crops
// per video, run in batches that fit a memory budget, probabilities averaged over the views.
// Reports what happens as events; printing is the caller's.
import type { Precision } from "../compiler/kernels/format.js";
import { compileGraph } from "../compiler/compile.js";
import type { Graph } from "../compiler/ir.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import type { Session } from "./session.js";
import {
  buildViews,
  decodeFrames,
  probeVideo,
  resizedSize,
  sampleIndices,
  type Normalisation,
} from "./video.js";

export interface ClassifyOptions {
  /** Frames per clip, and the sampling rate (frame interval). */
  readonly frames: number;
  readonly rate: number;
  /** Shorter side after resizing, and the square crop. */
  readonly size: number;
  readonly crop: number;
  readonly clips: number;
  readonly crops: 1 | 3;
  readonly norm: Normalisation;
  readonly labels: readonly string[];
}

export interface VideoResult {
  readonly video: string;
  readonly frames: number;
  readonly size: readonly [number, number];
  readonly views: number;
  /** Shorter than one clip: its frames loop. */
  readonly looped: boolean;
  readonly top: { readonly class: number; readonly label: string; readonly probability: number }[];
}

export type ClassifyEvent =
  | { readonly kind: "start"; readonly index: number; readonly video: string }
  /** `views`: the tensors fed to the model, views x 3 x T x crop x crop. */
  | { readonly kind: "done"; readonly result: VideoResult; readonly views: Float32Array }
  | { readonly kind: "failed"; readonly video: string; readonly error: CsncError };

/**
 * How many views one inference may take: as many as fit `budget` bytes of activations, given
 * the model at batch 1 (`single`) stored in `precision` (halves fit twice as many).
 */
export function viewsPerBatch(
  single: Graph,
  views: number,
  budget: number,
  precision: Precision = "f32",
): number {
  const perView = compileGraph(single, unlimitedLimits, {}, { precision }).memory.activationBytes;
  return Math.max(1, Math.min(views, Math.floor(budget / perView)));
}

/** Classifies each video with `session` (compiled for a batch of views); a bad video fails alone. */
export async function* classifyVideos(
  session: Session,
  videos: readonly string[],
  o: ClassifyOptions,
): AsyncGenerator<ClassifyEvent> {
  for (const [index, video] of videos.entries()) {
    yield { kind: "start", index, video };
    try {
      yield { kind: "done", ...(await classifyVideo(session, video, o)) };
    } catch (e) {
      if (!(e instanceof CsncError)) throw e;
      yield { kind: "failed", video, error: e };
    }
  }
}

/** The record `csnc classify --json` prints for a video (`csnc queue results` prints the same). */
export type VideoRecord = VideoResult | { readonly video: string; readonly error: string };

/** A video's classify event as its JSON record. */
export function videoRecord(
  e: Extract<ClassifyEvent, { kind: "done" }> | Extract<ClassifyEvent, { kind: "failed" }>,
): VideoRecord {
  return e.kind === "done" ? e.result : { video: e.video, error: e.error.message };
}

/** A video decoded, sampled and cropped: its views, ready to run. */
export interface PreparedVideo {
  readonly video: string;
  readonly frames: number;
  readonly size: readonly [number, number];
  readonly looped: boolean;
  /** views x 3 x T x crop x crop. */
  readonly views: Float32Array;
}

/**
 * Classifies one video: `video` names it in the result, `file` is what ffmpeg opens (default
 * the same). A CsncError says why a video cannot be read.
 */
export async function classifyVideo(
  session: Session,
  video: string,
  o: ClassifyOptions,
  file = video,
): Promise<{ result: VideoResult; views: Float32Array }> {
  return runVideo(session, await prepareVideo(video, o, file), o);
}

/** The CPU half of classifyVideo: probe, decode the sampled frames, crop and normalise. */
export async function prepareVideo(
  video: string,
  o: ClassifyOptions,
  file = video,
): Promise<PreparedVideo> {
  const { crop, crops } = o;
  const info = await probeVideo(file);
  const { indices, looped } = sampleIndices(info.frames, o.frames, o.rate, o.clips);
  const resized = resizedSize(info.width, info.height, o.size);
  if (Math.min(resized.width, resized.height) < crop)
    throw new CsncError(
      RuntimeCodes.badInput,
      `${file}: resized to ${resized.width}x${resized.height}, smaller than the crop`,
    );
  const frames = await decodeFrames(file, resized, new Set(indices.flat()));
  const views = buildViews(frames, resized, indices, crop, crops, o.norm);
  return { video, frames: info.frames, size: [info.width, info.height], looped, views };
}

/** The device half of classifyVideo: the views through the session, probabilities averaged. */
export async function runVideo(
  session: Session,
  p: PreparedVideo,
  o: ClassifyOptions,
): Promise<{ result: VideoResult; views: Float32Array }> {
  const views = o.clips * o.crops;
  const batch = p.views;
  // Views in batches of the compiled size; the last batch is padded and its padding ignored.
  const batchSize = session.plan.input.shape[0]!;
  const classes = session.plan.logits.shape[1]!;
  const mean = new Float64Array(classes);
  const viewSize = batch.length / views;
  function* chunks() {
    for (let first = 0; first < views; first += batchSize) {
      const chunk = new Float32Array(batchSize * viewSize);
      chunk.set(batch.subarray(first * viewSize, Math.min(views, first + batchSize) * viewSize));
      yield chunk;
    }
  }
  await session.runMany(chunks(), (out, index) => {
    const first = index * batchSize;
    for (let v = 0; v < Math.min(batchSize, views - first); v++)
      for (let c = 0; c < classes; c++) mean[c] += out.probabilities[v * classes + c]! / views;
  });
  const top = [...mean.keys()]
    .sort((a, b) => mean[b]! - mean[a]!)
    .slice(0, 5)
    .map((c) => ({ class: c, label: o.labels[c] ?? String(c), probability: mean[c]! }));
  const result: VideoResult = {
    video: p.video,
    frames: p.frames,
    size: p.size,
    views,
    looped: p.looped,
    top,
  };
  return { result, views: batch };
}
