// Training-time sampling and augmentation of decoded frames, without I/O: a random temporal
// offset, a scale-jittered shorter side, a random crop and a random horizontal flip for
// training; classify's centre clip and centre crop for validation. Normalised as classify
// normalises (runtime/video-sampling.ts).
import {
  normalisations,
  resizedSize,
  sampleIndices,
  type Normalisation,
} from "../video-sampling.js";

/** A crop's height and width. */
export interface CropSize {
  readonly height: number;
  readonly width: number;
}

/** How a clip is taken from a video. */
export interface ClipSampling {
  /** Frames per clip and the sampling rate (frame interval), as classify's. */
  readonly frames: number;
  readonly rate: number;
  /** Shorter side after resizing (validation; training jitters it by `scale`). */
  readonly size: number;
  /** The model's H x W (a number: square). */
  readonly crop: number | CropSize;
  readonly norm: Normalisation;
  /** Training's shorter side, as a range of factors of `size` (default [0.875, 1.25]). */
  readonly scale?: readonly [number, number];
}

/** The views one clip is cut with. */
export interface ClipPlan {
  readonly indices: readonly number[];
  readonly looped: boolean;
  readonly resized: { readonly width: number; readonly height: number };
  readonly origin: readonly [number, number];
  readonly flip: boolean;
}

export const cropSize = (crop: number | CropSize): CropSize =>
  typeof crop === "number" ? { height: crop, width: crop } : crop;

/** The resized size for a target shorter side, grown until the crop fits inside it. */
export function resizedFor(
  width: number,
  height: number,
  side: number,
  crop: CropSize,
): { width: number; height: number } {
  const short = Math.min(width, height);
  let s = Math.max(side, Math.ceil(short * Math.max(crop.width / width, crop.height / height)));
  for (;;) {
    const r = resizedSize(width, height, s);
    if (r.width >= crop.width && r.height >= crop.height) return r;
    s++;
  }
}

/**
 * The frames, size, crop and flip of one clip of a video of `frames` frames at `width` x
 * `height`: random ones (from `random`) for training, the centre ones for validation.
 */
export function planClip(
  video: { readonly frames: number; readonly width: number; readonly height: number },
  s: ClipSampling,
  random: (() => number) | undefined,
): ClipPlan {
  const crop = cropSize(s.crop);
  if (!random) {
    const { indices, looped } = sampleIndices(video.frames, s.frames, s.rate, 1);
    const resized = resizedFor(video.width, video.height, s.size, crop);
    const origin = [
      Math.floor((resized.width - crop.width) / 2),
      Math.floor((resized.height - crop.height) / 2),
    ] as const;
    return { indices: indices[0]!, looped, resized, origin, flip: false };
  }
  // MMAction2's SampleFrames in training: a random offset where the clip fits, else loop.
  const span = s.frames * s.rate;
  const offset = video.frames > span ? Math.floor(random() * (video.frames - span + 1)) : 0;
  let looped = false;
  const indices = [...Array(s.frames).keys()].map((i) => {
    const f = offset + i * s.rate;
    if (f >= video.frames) looped = true;
    return f % video.frames;
  });
  const [lo, hi] = s.scale ?? [0.875, 1.25];
  const side = Math.round(s.size * (lo + (hi - lo) * random()));
  const resized = resizedFor(video.width, video.height, side, crop);
  const origin = [
    Math.floor(random() * (resized.width - crop.width + 1)),
    Math.floor(random() * (resized.height - crop.height + 1)),
  ] as const;
  return { indices, looped, resized, origin, flip: random() < 0.5 };
}

/**
 * One clip, 3 x T x H x W float32, from RGB frames at `plan.resized`: cropped at the plan's
 * origin, flipped if it says so, normalised by `norm`; written into `out` at `offset`.
 */
export function cutClip(
  frames: ReadonlyMap<number, Uint8Array>,
  plan: ClipPlan,
  crop: CropSize,
  norm: Normalisation,
  out: Float32Array = new Float32Array(3 * plan.indices.length * crop.height * crop.width),
  offset = 0,
): Float32Array {
  const { mean, std } = normalisations[norm];
  const { width } = plan.resized;
  const [x0, y0] = plan.origin;
  const T = plan.indices.length;
  const { height: H, width: W } = crop;
  for (let c = 0; c < 3; c++)
    for (let t = 0; t < T; t++) {
      const frame = frames.get(plan.indices[t]!)!;
      const base = offset + (c * T + t) * H * W;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const sx = plan.flip ? x0 + W - 1 - x : x0 + x;
          out[base + y * W + x] = (frame[((y0 + y) * width + sx) * 3 + c]! - mean[c]!) / std[c]!;
        }
    }
  return out;
}
