// What a worker agrees to open for a job: files inside its --root (symbolic links resolved
// first, so a link cannot lead out), http(s) URLs only when allowed (downloaded, then opened
// as a file: ffmpeg never sees a URL), and only bytes whose digest matches the job's.
import { createHash } from "node:crypto";
import { createWriteStream, mkdtempSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { catalog } from "../../grammar/codes.js";
import { CsncError } from "../../runtime/errors.js";
import { plainReason } from "../io.js";
import { fileDigest, sourceOf } from "./jobs.js";

const codes = catalog.queue;

export interface InputPolicy {
  /** The folder every local file must be in, its symbolic links resolved. */
  readonly root: string;
  /** Whether http(s) URLs are fetched. */
  readonly allowHttp: boolean;
}

const refuse = (message: string) => new CsncError(codes.refusedJob, message);

/** `file` with its links resolved, if it is a regular file inside the root; else a refusal. */
export function localFile(file: string, policy: InputPolicy, what: string): string {
  let real: string;
  try {
    real = realpathSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw refuse(`${what} ${file}: ${code === "ENOENT" ? "no such file" : plainReason(code)}`);
  }
  const inside = path.relative(policy.root, real);
  if (inside.startsWith("..") || path.isAbsolute(inside))
    throw refuse(`${what} ${file} is outside the worker's --root ${policy.root}`);
  if (!statSync(real).isFile()) throw refuse(`${what} ${file} is not a regular file`);
  return real;
}

/** That `file`'s bytes are those the job was submitted with. */
export async function checkDigest(file: string, digest: string, what: string): Promise<void> {
  if ((await fileDigest(file)) !== digest)
    throw new CsncError(
      codes.changedInput,
      `${what} ${file} changed since the job was submitted (its SHA-256 differs); submit it again`,
    );
}

/** A video to decode: a local file, and what to clean up once done. */
export interface VideoFile {
  readonly file: string;
  cleanup(): void;
}

/** The job's video as a checked local file (downloaded first for an allowed URL). */
export async function videoFile(
  source: string,
  digest: string,
  policy: InputPolicy,
  maxBytes: number,
): Promise<VideoFile> {
  let where;
  try {
    where = sourceOf(source, policy.root);
  } catch (e) {
    throw refuse((e as Error).message);
  }
  if (where.kind === "file") {
    const file = localFile(where.path, policy, "video");
    await checkDigest(file, digest, "video");
    return { file, cleanup: () => undefined };
  }
  if (!policy.allowHttp)
    throw refuse(`${source}: this worker does not fetch URLs (start it with --allow-http)`);
  const dir = mkdtempSync(path.join(tmpdir(), "csnc-worker-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const file = path.join(dir, "video");
    const got = await download(source, file, maxBytes);
    if (got !== digest)
      throw new CsncError(
        codes.changedInput,
        `${source} changed since the job was submitted (its SHA-256 differs); submit it again`,
      );
    return { file, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** Fetches `url` into `file` (at most `maxBytes`); the SHA-256 of its bytes. */
async function download(url: string, file: string, maxBytes: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(300_000), redirect: "error" });
  } catch (e) {
    // A network failure may pass: retried.
    throw new Error(`${url}: ${(e as Error).message}`);
  }
  if (!response.ok || !response.body) {
    const message = `${url}: HTTP ${response.status}`;
    throw response.status >= 500 ? new Error(message) : refuse(message);
  }
  const hash = createHash("sha256");
  const out = createWriteStream(file);
  let bytes = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw refuse(`${url} is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
  } finally {
    await new Promise<void>((r) => out.end(() => r()));
  }
  return hash.digest("hex");
}
