// The model zoos' test-time sampling and preprocessing, without any I/O, so that the CLI
// (frames from ffmpeg) and the browser demo (frames from a video element) share it.

export const normalisations = {
  vmz: { mean: [110.201, 100.64, 95.997], std: [58.149, 56.47, 55.332] },
  imagenet: { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
  pytorchvideo: {
    mean: [0.45 * 255, 0.45 * 255, 0.45 * 255],
    std: [0.225 * 255, 0.225 * 255, 0.225 * 255],
  },
} as const;
export type Normalisation = keyof typeof normalisations;

/** Frame indices of each clip (MMAction2 SampleFrames, test mode) and whether any looped. */
export function sampleIndices(
  frames: number,
  clipLength: number,
  rate: number,
  clips: number,
): { indices: number[][]; looped: boolean } {
  const span = clipLength * rate;
  const average = (frames - span + 1) / clips;
  const offsets = [...Array(clips).keys()].map((k) =>
    frames > span - 1 ? Math.floor(k * average + average / 2) : 0,
  );
  let looped = false;
  const indices = offsets.map((o) =>
    [...Array(clipLength).keys()].map((i) => {
      const f = o + i * rate;
      if (f >= frames) looped = true;
      return f % frames;
    }),
  );
  return { indices, looped };
}

/** The resized size: the shorter side becomes `size`, the aspect ratio is kept. */
export function resizedSize(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  return width <= height
    ? { width: size, height: Math.round((height * size) / width) }
    : { width: Math.round((width * size) / height), height: size };
}

/** Top-left corners of the centre crop, or of three crops along the longer side. */
export function cropOrigins(
  width: number,
  height: number,
  crop: number,
  crops: 1 | 3,
): [number, number][] {
  const cx = Math.floor((width - crop) / 2);
  const cy = Math.floor((height - crop) / 2);
  if (crops === 1) return [[cx, cy]];
  return width >= height
    ? [
        [0, cy],
        [cx, cy],
        [width - crop, cy],
      ]
    : [
        [cx, 0],
        [cx, cy],
        [cx, height - crop],
      ];
}

/** All views (clips x crops) as one N x 3 x T x crop x crop float32 batch. */
export function buildViews(
  frames: ReadonlyMap<number, Uint8Array>,
  size: { width: number; height: number },
  indices: readonly (readonly number[])[],
  crop: number,
  crops: 1 | 3,
  norm: Normalisation,
): Float32Array {
  const { mean, std } = normalisations[norm];
  const origins = cropOrigins(size.width, size.height, crop, crops);
  const T = indices[0]!.length;
  const out = new Float32Array(indices.length * origins.length * 3 * T * crop * crop);
  let view = 0;
  for (const clip of indices) {
    for (const [x0, y0] of origins) {
      for (let c = 0; c < 3; c++)
        for (let t = 0; t < T; t++) {
          const frame = frames.get(clip[t]!)!;
          const base = ((view * 3 + c) * T + t) * crop * crop;
          for (let y = 0; y < crop; y++)
            for (let x = 0; x < crop; x++)
              out[base + y * crop + x] =
                (frame[((y0 + y) * size.width + x0 + x) * 3 + c]! - mean[c]!) / std[c]!;
        }
      view++;
    }
  }
  return out;
}
