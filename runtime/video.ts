// Video in: probing and decoding through the ffmpeg executable (frames streamed as raw RGB at
// the resized resolution, never the whole video at full size), and the model zoos' test-time
// sampling and preprocessing: K clips of T frames at rate r spread uniformly over the video
// (short videos loop, as MMAction2's SampleFrames does), shorter side resized, centre or three
// crops, per-channel normalisation, N x 3 x T x H x W float32.
import { execFile, spawn } from "node:child_process";
import { CsncError, RuntimeCodes } from "./errors.js";
export * from "./video-sampling.js";

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

/**
 * Width, height and frame count. Asynchronous: counting frames decodes the whole stream, and a
 * queue worker must keep renewing its job's lock (and a classify decoding the next video) meanwhile.
 */
export function probeVideo(file: string): Promise<VideoInfo> {
  const args = [
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
  ];
  return new Promise((resolve, reject) => {
    execFile(
      "ffprobe",
      args,
      { encoding: "utf8", timeout: 60_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
          try {
            ffmpegMissing();
          } catch (e) {
            return reject(e);
          }
        }
        let stream: { width?: number; height?: number; nb_read_frames?: string } | undefined;
        try {
          stream = error ? undefined : (JSON.parse(stdout || "{}").streams ?? [])[0];
        } catch {
          stream = undefined;
        }
        const frames = Number(stream?.nb_read_frames);
        if (!stream || !(stream.width! > 0) || !(frames > 0)) {
          const why =
            (stderr || "").trim().split("\n").pop() ||
            (error?.killed ? "ffprobe took over 60 s" : "no video stream");
          return reject(
            new CsncError(RuntimeCodes.badInput, `${file}: not a readable video (${why})`),
          );
        }
        resolve({ width: stream.width!, height: stream.height!, frames });
      },
    );
  });
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
