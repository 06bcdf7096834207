// Training data for `csnc train --data D`: a safetensors file of clips and labels, or a CSV
// list of videos decoded, sampled and augmented here. Errors name the file (and line); a
// video that cannot be read is skipped and reported, never fatal.
import * as path from "node:path";
import { catalog } from "../../grammar/codes.js";
import { CsncError } from "../errors.js";
import { readSafetensors, shown } from "../safetensors.js";
import { decodeFrames, probeVideo } from "../video.js";
import { cropSize, cutClip, planClip, type ClipSampling } from "./augment.js";
import { prng, streamSeed } from "./synth.js";

export type { ClipSampling, CropSize } from "./augment.js";

const codes = catalog.trainingData;

/** Clips and their labels: N x 3 x T x H x W and N. */
export interface TensorDataset {
  readonly input: Float32Array;
  readonly labels: Int32Array;
  readonly shape: readonly [number, number, number, number, number];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * A data set file: `input` [N, 3, T, H, W] F32 and `labels` [N] I64 or I32. `file` names it in
 * errors (CsncError 4401 for the file's tensors, 4402 for its labels).
 */
export function readTensorDataset(bytes: Uint8Array, file: string): TensorDataset {
  const { tensors, metadata } = readSafetensors(bytes, file, { integers: true });
  const bad = (why: string) => new CsncError(codes.badDataset, `${file}: ${why}`);
  const input = tensors.get("input");
  const labels = tensors.get("labels");
  const names = () =>
    [...tensors.keys()]
      .slice(0, 8)
      .map((k) => `'${shown(k)}'`)
      .join(", ") || "none";
  for (const [name, t] of [
    ["input", input],
    ["labels", labels],
  ] as const)
    if (!t)
      throw bad(
        `no '${name}' tensor (a data set holds 'input' [N, 3, T, H, W] F32 and 'labels' [N] I64; its tensors: ${names()})`,
      );
  if (input!.dtype !== "F32") throw bad(`'input' is ${input!.dtype}; a data set's input is F32`);
  if (input!.shape.length !== 5 || input!.shape[1] !== 3)
    throw bad(
      `'input' has shape [${input!.shape.join(", ")}]; expected [N, 3, T, H, W] (RGB clips)`,
    );
  if (input!.shape.some((d) => d === 0))
    throw bad(`'input' has shape [${input!.shape.join(", ")}]: it holds no values`);
  const values = labels!.integers ?? labels!.data;
  if (!values || labels!.dtype === "BOOL")
    throw bad(`'labels' is ${labels!.dtype}; labels are I64 or I32 class indices`);
  if (labels!.shape.length !== 1)
    throw bad(`'labels' has shape [${labels!.shape.join(", ")}]; expected [N], one per clip`);
  const n = input!.shape[0]!;
  if (labels!.shape[0] !== n)
    throw bad(`'input' holds ${n} clips but 'labels' ${labels!.shape[0]} labels`);
  const data = input!.data!;
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i]!)) {
      const clip = Math.floor(i / (data.length / n));
      throw bad(`'input' holds ${data[i]} (not a finite number) in clip ${clip}`);
    }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1))
      throw new CsncError(
        codes.badLabels,
        `${file}: label ${i} is ${v}${Number.isInteger(v) ? "" : ", not an integer"}; labels are class indices from 0`,
      );
    out[i] = v;
  }
  const shape = input!.shape as unknown as TensorDataset["shape"];
  return { input: data, labels: out, shape, metadata };
}

/**
 * That every label is a class of a model with `classes` classes (CsncError 4402 naming the
 * first that is not). With `lines` (a video list's, VideoEntry.line), the message names
 * `file`:line.
 */
export function checkLabels(
  labels: ArrayLike<number>,
  classes: number,
  file: string,
  lines?: readonly number[],
): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < classes)) {
      const where = lines?.[i] === undefined ? `${file}: label ${i}` : `${file}:${lines[i]}: label`;
      throw new CsncError(
        codes.badLabels,
        `${where} is ${v}, but the model has ${classes} classes (labels 0 to ${classes - 1})`,
      );
    }
  }
}

/** A video of a list, with its label and the list's line that names it. */
export interface VideoEntry {
  /** The path as resolved against the list's folder. */
  readonly path: string;
  readonly label: number;
  readonly line: number;
}

/** One CSV row's fields: a quoted path may hold commas and doubled quotes. */
function splitRow(row: string, where: string): [string, string] {
  const bad = (why: string) => new CsncError(codes.badVideoList, `${where}: ${why}`);
  if (row.startsWith('"')) {
    let i = 1;
    let value = "";
    for (;;) {
      const q = row.indexOf('"', i);
      if (q < 0) throw bad("a quoted path has no closing quote");
      value += row.slice(i, q);
      if (row[q + 1] === '"') {
        value += '"';
        i = q + 2;
        continue;
      }
      const rest = row.slice(q + 1);
      if (!rest.trimStart().startsWith(","))
        throw bad("expected a comma and a label after the quoted path");
      return [value, rest.trimStart().slice(1)];
    }
  }
  const fields = row.split(",");
  if (fields.length < 2) throw bad("expected path,label");
  if (fields.length > 2)
    throw bad(
      `expected path,label but found ${fields.length} fields; quote a path that holds commas ("a,b.mp4",3)`,
    );
  return [fields[0]!, fields[1]!];
}

/**
 * A CSV of `path,label` rows: an optional header `path,label`, blank lines and `#` comments
 * skipped, relative paths resolved against `baseDir` (the list's folder). Errors (CsncError
 * 4403) name `file`:line.
 */
export function readVideoList(text: string, file: string, baseDir: string): VideoEntry[] {
  const out: VideoEntry[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  let header = true;
  for (const [i, raw] of lines.entries()) {
    const row = raw.replace(/\r$/, "").trim();
    if (!row || row.startsWith("#")) continue;
    const where = `${file}:${i + 1}`;
    if (header && /^"?path"?\s*,\s*"?label"?$/i.test(row)) {
      header = false;
      continue;
    }
    header = false;
    const [p, l] = splitRow(row, where);
    const name = p.trim();
    const label = l.trim();
    if (!name) throw new CsncError(codes.badVideoList, `${where}: the path is empty`);
    if (!/^\d+$/.test(label) || !Number.isSafeInteger(Number(label)))
      throw new CsncError(
        codes.badVideoList,
        `${where}: label '${shown(label, 40)}' is not a class index (an integer from 0)`,
      );
    out.push({ path: path.resolve(baseDir, name), label: Number(label), line: i + 1 });
  }
  if (!out.length)
    throw new CsncError(codes.badVideoList, `${file}: no videos (expected rows of path,label)`);
  return out;
}

/** What videoClips makes of a list: the clips it could read, and the videos it skipped. */
export interface VideoClips {
  /** M x 3 x T x H x W float32, M the videos read. */
  readonly clips: Float32Array;
  readonly labels: Int32Array;
  readonly shape: readonly [number, number, number, number, number];
  readonly skipped: { readonly path: string; readonly reason: string }[];
}

/** The most values videoClips holds at once: 4 GiB of float32. */
export const maxClipValues = 2 ** 30;

/**
 * One clip of each video: decoded (only the clip's frames kept, at the resized size), sampled,
 * cropped and flipped at random from `seed` for training (each video its own stream, so a
 * skipped video changes no other clip), classify's centre clip and centre crop otherwise.
 */
export async function videoClips(
  list: readonly VideoEntry[],
  sampling: ClipSampling,
  o: { readonly train: boolean; readonly seed: number },
): Promise<VideoClips> {
  const crop = cropSize(sampling.crop);
  const T = sampling.frames;
  const clipSize = 3 * T * crop.height * crop.width;
  if (list.length * clipSize > maxClipValues)
    throw new CsncError(
      codes.badVideoList,
      `${list.length} clips of 3 x ${T} x ${crop.height} x ${crop.width} would hold ${(list.length * clipSize).toExponential(2)} values; the limit is ${maxClipValues} (4 GiB of float32)`,
    );
  const buffer = new Float32Array(list.length * clipSize);
  const labels: number[] = [];
  const skipped: { path: string; reason: string }[] = [];
  for (const [index, entry] of list.entries()) {
    try {
      const info = await probeVideo(entry.path);
      const random = o.train ? prng(streamSeed(o.seed, index)) : undefined;
      const plan = planClip(info, sampling, random);
      const frames = await decodeFrames(entry.path, plan.resized, new Set(plan.indices));
      cutClip(frames, plan, crop, sampling.norm, buffer, labels.length * clipSize);
      labels.push(entry.label);
    } catch (e) {
      const errno = e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string";
      if (!(e instanceof CsncError) && !errno) throw e;
      skipped.push({ path: entry.path, reason: (e as Error).message });
    }
  }
  const m = labels.length;
  return {
    clips: m === list.length ? buffer : buffer.slice(0, m * clipSize),
    labels: Int32Array.from(labels),
    shape: [m, 3, T, crop.height, crop.width],
    skipped,
  };
}
