// Decoding a dropped video in the page (a video element seeked frame by frame onto a
// canvas), for both the run panel and the Fine-tune panel.
import { resizedSize, sampleIndices } from "../../runtime/video-sampling.js";

/** The frames of a video's centre clip, RGB at `size` (shorter side `side`). */
export interface Frames {
  readonly frames: Map<number, Uint8Array>;
  readonly indices: number[];
  readonly size: { width: number; height: number };
}

// As the demo's decodeVideo (and `csnc classify`): T frames at rate 2 from the middle of the
// video at an assumed 30 fps, the shorter side resized to 256/224 of the crop.
export async function decodeFrames(file: File, T: number, side: number): Promise<Frames> {
  const video = document.createElement("video");
  video.muted = true;
  video.src = URL.createObjectURL(file);
  try {
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(new Error(`the browser cannot decode ${file.name}`));
    });
    const fps = 30;
    const count = Math.max(1, Math.round(video.duration * fps));
    const indices = sampleIndices(count, T, 2, 1).indices[0]!;
    const size = resizedSize(video.videoWidth, video.videoHeight, side);
    const canvas = document.createElement("canvas");
    canvas.width = size.width;
    canvas.height = size.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
    const frames = new Map<number, Uint8Array>();
    for (const index of new Set(indices)) {
      video.currentTime = Math.min(video.duration, (index + 0.5) / fps);
      await new Promise((resolve) => (video.onseeked = resolve));
      ctx.drawImage(video, 0, 0, size.width, size.height);
      const rgba = ctx.getImageData(0, 0, size.width, size.height).data;
      const rgb = new Uint8Array(size.width * size.height * 3);
      for (let i = 0; i < size.width * size.height; i++)
        rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
      frames.set(index, rgb);
    }
    return { frames, indices, size };
  } finally {
    URL.revokeObjectURL(video.src);
  }
}
