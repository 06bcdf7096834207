// The model zoos' test-time protocol on real videos (`csnc classify`): K clips x (1 or 3) crops
// per video, run in batches that fit a memory budget, probabilities averaged over the views.
// Reports what happens as events; printing is the caller's.
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
 * the model at batch 1 (`single`).
 */
export function viewsPerBatch(single: Graph, views: number, budget: number): number {
  const perView = compileGraph(single, unlimitedLimits).memory.activationBytes;
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

async function classifyVideo(session: Session, video: string, o: ClassifyOptions) {
  const { frames: T, crop, crops, clips } = o;
  const views = clips * crops;
  const info = probeVideo(video);
  const { indices, looped } = sampleIndices(info.frames, T, o.rate, clips);
  const resized = resizedSize(info.width, info.height, o.size);
  if (Math.min(resized.width, resized.height) < crop)
    throw new CsncError(
      RuntimeCodes.badInput,
      `${video}: resized to ${resized.width}x${resized.height}, smaller than the crop`,
    );
  const frames = await decodeFrames(video, resized, new Set(indices.flat()));
  const batch = buildViews(frames, resized, indices, crop, crops, o.norm);
  // Views in batches of the compiled size; the last batch is padded and its padding ignored.
  const batchSize = session.plan.input.shape[0]!;
  const classes = session.plan.logits.shape[1]!;
  const mean = new Float64Array(classes);
  const viewSize = batch.length / views;
  for (let first = 0; first < views; first += batchSize) {
    const chunk = new Float32Array(batchSize * viewSize);
    chunk.set(batch.subarray(first * viewSize, Math.min(views, first + batchSize) * viewSize));
    const out = await session.run(chunk);
    for (let v = 0; v < Math.min(batchSize, views - first); v++)
      for (let c = 0; c < classes; c++) mean[c] += out.probabilities[v * classes + c]! / views;
  }
  const top = [...mean.keys()]
    .sort((a, b) => mean[b]! - mean[a]!)
    .slice(0, 5)
    .map((c) => ({ class: c, label: o.labels[c] ?? String(c), probability: mean[c]! }));
  const result: VideoResult = {
    video,
    frames: info.frames,
    size: [info.width, info.height],
    views,
    looped,
    top,
  };
  return { result, views: batch };
}
