// What a job is: one video (a path or URL, never code) and how to classify it (the model, its
// weights and the sampling, each file with its digest). Its id is the SHA-256 of the video's
// bytes and of that spec, so the same video under the same model is one job however often it
// is submitted. Also the manifest: text lines of paths or URLs, or JSON lines {path, id?}.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Graph } from "../../compiler/index.js";
import { catalog } from "../../grammar/codes.js";
import { CsncError } from "../../runtime/errors.js";
import { normalisations } from "../../runtime/video.js";
import { namings } from "../../runtime/naming.js";
import type { Sampling } from "../classify.js";
import { ranges } from "../options.js";
import { readFile } from "../read-file.js";

const codes = catalog.queue;

/** How to classify: the same for every video of a submission. */
export interface JobSpec {
  /** The .csn file (absolute) and the SHA-256 of its bytes. */
  readonly model: string;
  readonly modelDigest: string;
  /** The SHA-256 of the checked model (its layers, parameters and shapes): what its imports add. */
  readonly graphDigest: string;
  readonly weights?: string;
  readonly weightsDigest?: string;
  readonly naming: string;
  /** --set name=value, as given. */
  readonly set: readonly string[];
  readonly seed: number;
  /** kinetics400, or a file (absolute) with its digest. */
  readonly labels: string;
  readonly labelsDigest?: string;
  readonly sampling: Sampling;
}

export interface JobData {
  /** The video as the manifest names it: what its result shows. */
  readonly video: string;
  /** What the worker opens: an absolute path, or an http(s) URL. */
  readonly source: string;
  readonly videoDigest: string;
  readonly spec: JobSpec;
}

/** What a finished job returns (stored in Redis). */
export interface JobResult {
  /** The record `csnc classify --json` prints for the video. */
  readonly record: object;
  readonly timing: { readonly decodeMs: number; readonly runMs: number; readonly totalMs: number };
  readonly adapter: string;
  /** host:pid of the worker that ran it. */
  readonly worker: string;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The digest of everything in the spec that changes a result (paths do not). */
export function specDigest(spec: JobSpec): string {
  const { modelDigest, graphDigest, weightsDigest, naming, set, seed, labels, labelsDigest } = spec;
  const s = spec.sampling;
  return sha256(
    JSON.stringify([
      modelDigest,
      graphDigest,
      weightsDigest ?? null,
      naming,
      set,
      seed,
      labelsDigest ?? labels,
      [s.frames, s.rate, s.size, s.crop, s.clips, s.crops, s.norm],
    ]),
  );
}

/**
 * The digest of a checked model without where it came from (files, spans): a change in an
 * imported file changes it, a move of the files does not.
 */
export function graphDigest(graph: Graph): string {
  const where = new Set(["file", "span", "origin"]);
  return sha256(JSON.stringify(graph, (k, v) => (where.has(k) ? undefined : v)));
}

/** A job's id: the video's bytes and the spec. */
export function jobIdOf(videoDigest: string, spec: JobSpec): string {
  return sha256(`${videoDigest}\n${specDigest(spec)}`);
}

/** The SHA-256 of a file's bytes, streamed. */
export function fileDigest(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (d) => hash.update(d))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** The most bytes of a video fetched over http(s) (to hash it, or to decode it). */
export const maxUrlBytes = 4 * 2 ** 30;

/** The SHA-256 of a URL's body, streamed; `limit` bytes at most. */
export async function urlDigest(url: string, limit: number): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    if (bytes > limit) throw new Error(`larger than ${limit} bytes`);
    hash.update(chunk);
  }
  return hash.digest("hex");
}

/** A manifest's video: a local path (absolute) or an http(s) URL. */
export type Source =
  { readonly kind: "file"; readonly path: string } | { kind: "url"; url: string };

/** Where `video` (a manifest line) is: paths relative to `base`, file: and http(s): URLs. */
export function sourceOf(video: string, base: string): Source {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(video)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: "file", path: path.resolve(base, video) };
  if (scheme === "file") return { kind: "file", path: fileURLToPath(video) };
  if (scheme === "http" || scheme === "https") return { kind: "url", url: video };
  throw new Error(
    `${scheme}: URLs are not supported; give a path, or a file:, http: or https: URL`,
  );
}

export interface ManifestEntry {
  /** 1-based line of the manifest. */
  readonly line: number;
  readonly video: string;
  /** The manifest's own name for the video (JSON lines' `id`). */
  readonly id?: string;
}

export interface Manifest {
  readonly entries: readonly ManifestEntry[];
  /** Lines that name no video, with why. */
  readonly problems: readonly { readonly line: number; readonly message: string }[];
}

/** The most bytes a manifest may have. */
const maxManifestBytes = 256 * 2 ** 20;

/** A manifest: blank lines and # comments skipped; a line starting with { is JSON. */
export function readManifest(file: string): Manifest {
  const text = new TextDecoder().decode(readFile(file, "manifest", maxManifestBytes));
  const entries: ManifestEntry[] = [];
  const problems: { line: number; message: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (!t || t.startsWith("#")) return;
    if (!t.startsWith("{")) return void entries.push({ line, video: t });
    let value: unknown;
    try {
      value = JSON.parse(t);
    } catch (e) {
      return void problems.push({ line, message: `not JSON (${(e as Error).message})` });
    }
    const { path: video, id } = value as { path?: unknown; id?: unknown };
    if (typeof video !== "string" || !video)
      return void problems.push({ line, message: 'a JSON line needs "path", a string' });
    if (id !== undefined && typeof id !== "string" && typeof id !== "number")
      return void problems.push({ line, message: '"id" must be a string or a number' });
    entries.push({ line, video, ...(id !== undefined ? { id: String(id) } : {}) });
  });
  return { entries, problems };
}

/** A job's data checked field by field: a job is data from the network, never trusted. */
export function checkJobData(data: unknown): JobData {
  const bad = (what: string): never => {
    throw new CsncError(codes.refusedJob, `the job is malformed: ${what}`);
  };
  const d = (data ?? {}) as Record<string, unknown>;
  const spec = (d.spec ?? {}) as Record<string, unknown>;
  const s = (spec.sampling ?? {}) as Record<string, unknown>;
  const str = (o: Record<string, unknown>, k: string, optional = false) =>
    (optional && o[k] === undefined) || typeof o[k] === "string" ? o[k] : bad(`${k} is not text`);
  const digest = (o: Record<string, unknown>, k: string, optional = false) =>
    (optional && o[k] === undefined) || /^[0-9a-f]{64}$/.test(String(o[k]))
      ? o[k]
      : bad(`${k} is not a SHA-256`);
  for (const k of ["video", "source"]) str(d, k);
  digest(d, "videoDigest");
  for (const k of ["model", "naming", "labels"]) str(spec, k);
  str(spec, "weights", true);
  digest(spec, "modelDigest");
  digest(spec, "graphDigest");
  digest(spec, "weightsDigest", spec.weights === undefined);
  digest(spec, "labelsDigest", true);
  if (!Array.isArray(spec.set) || !spec.set.every((x) => typeof x === "string")) bad("set");
  if (!(namings as readonly string[]).concat("auto").includes(spec.naming as string)) bad("naming");
  const integer = (v: unknown, r: { min: number; max: number }) =>
    Number.isSafeInteger(v) && (v as number) >= r.min && (v as number) <= r.max;
  if (!integer(spec.seed, ranges["--seed"])) bad("seed");
  for (const k of ["frames", "rate", "size", "crop", "clips"] as const)
    if (!integer(s[k], ranges[`--${k}`])) bad(k);
  if (s.crops !== 1 && s.crops !== 3) bad("crops");
  if (!Object.keys(normalisations).includes(s.norm as string)) bad("norm");
  return data as JobData;
}
