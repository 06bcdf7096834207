// Video in: probing and decoding through the ffmpeg executable (frames streamed as raw RGB at
// the resized resolution, never the whole video at full size), and the model zoos' test-time
// sampling and preprocessing: K clips of T frames at rate r spread uniformly over the video
// (short videos loop, as MMAction2's SampleFrames does), shorter side resized, centre or three
// crops, per-channel normalisation, N x 3 x T x H x W float32.
import { spawn, spawnSync } from "node:child_process";
import { CsncError, RuntimeCodes } from "./errors.js";

export const normalisations = {
  vmz: { mean: [110.201, 100.64, 95.997], std: [58.149, 56.47, 55.332] },
  imagenet: { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
  pytorchvideo: {
    mean: [0.45 * 255, 0.45 * 255, 0.45 * 255],
    std: [0.225 * 255, 0.225 * 255, 0.225 * 255],
  },
} as const;
export type Normalisation = keyof typeof normalisations;

export interface VideoInfo {
  readonly width: number;
  readonly height: number;
  readonly frames: number;
}

function ffmpegMissing(): never {
  throw new CsncError(
    RuntimeCodes.badInput,
    "ffmpeg is not installed: apt-get install ffmpeg (csnc decodes videos with the ffmpeg and ffprobe executables)",
  );
}

export function probeVideo(file: string): VideoInfo {
  const r = spawnSync(
    "ffprobe",
    [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-count_frames",
      "-show_entries",
      "stream=width,height,nb_read_frames",
      "-of",
      "json",
      file,
    ],
    {
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") ffmpegMissing();
  const stream = r.status === 0 ? (JSON.parse(r.stdout || "{}").streams ?? [])[0] : undefined;
  const frames = Number(stream?.nb_read_frames);
  if (!stream || !(stream.width > 0) || !(frames > 0)) {
    const why = (r.stderr || "").trim().split("\n").pop() || "no video stream";
    throw new CsncError(RuntimeCodes.badInput, `${file}: not a readable video (${why})`);
  }
  return { width: stream.width, height: stream.height, frames };
}

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

/** Decodes the wanted frames (by index) at the resized size, as RGB bytes. */
export async function decodeFrames(
  file: string,
  size: { width: number; height: number },
  wanted: ReadonlySet<number>,
): Promise<Map<number, Uint8Array>> {
  const frameBytes = size.width * size.height * 3;
  const out = new Map<number, Uint8Array>();
  const child = spawn(
    "ffmpeg",
    [
      "-v",
      "error",
      "-i",
      file,
      "-vf",
      `scale=${size.width}:${size.height}:flags=bilinear`,
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "pipe:1",
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    child.on("error", (e) =>
      (e as NodeJS.ErrnoException).code === "ENOENT"
        ? reject(
            new CsncError(RuntimeCodes.badInput, "ffmpeg is not installed: apt-get install ffmpeg"),
          )
        : reject(e),
    );
    child.stdout.on("data", (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : (chunk as Buffer);
      while (pending.length >= frameBytes) {
        if (wanted.has(index)) out.set(index, new Uint8Array(pending.subarray(0, frameBytes)));
        pending = pending.subarray(frameBytes);
        index++;
      }
    });
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new CsncError(
              RuntimeCodes.badInput,
              `${file}: ffmpeg could not decode it (${stderr.trim().split("\n").pop()})`,
            ),
          ),
    );
  });
  for (const i of wanted)
    if (!out.has(i))
      throw new CsncError(RuntimeCodes.badInput, `${file}: frame ${i} could not be decoded`);
  return out;
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
