// The CLI's only contact with the process: output streams, the exit code, and the files it
// writes. Tests pass their own streams.
import {
  accessSync,
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import * as path from "node:path";
import { UsageError } from "./options.js";

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  exitCode(code: number): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text + "\n"),
  err: (text) => process.stderr.write(text + "\n"),
  exitCode: (code) => {
    process.exitCode = code;
  },
};

/** An output that cannot be written; main prints "csnc: error: <message>" and exits 1. */
export class OutputError extends Error {}

const reasons: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "the file would be too large for its file system",
  EISDIR: "it is a folder",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "the name is too long",
  EIO: "input/output error",
  ENXIO: "nobody reads it (a named pipe or socket without a reader)",
  EBUSY: "the file is busy",
  ETXTBSY: "the file is a running program",
  EMFILE: "too many open files",
  ENFILE: "too many open files",
  EINVAL: "the file system refuses it (invalid argument)",
  EAGAIN: "the file is not ready for writing",
  EOPNOTSUPP: "the file system does not support it",
};

function tryStat(p: string, link = false): Stats | undefined {
  try {
    return link ? lstatSync(p) : statSync(p);
  } catch {
    return undefined;
  }
}

/** What is wrong with `p` as a folder on the way to an output, or undefined if nothing. */
function folderProblem(p: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return `${p} is a loop of symbolic links`;
    if (code === "ENOENT")
      return tryStat(p, true)?.isSymbolicLink()
        ? `${p} is a broken symbolic link`
        : `folder ${p} does not exist`;
    return `${p}: ${(code && reasons[code]) ?? code}`;
  }
  return st.isDirectory() ? undefined : `${p} is not a folder`;
}

/** Why `target` could not be written, in words, from the error code and a look at its path. */
function reason(code: string | undefined, target: string): string {
  const abs = path.resolve(target);
  const badLink = tryStat(abs, true)?.isSymbolicLink() && folderProblem(abs);
  if (badLink && (code === "ENOENT" || code === "EEXIST" || code === "ELOOP"))
    return badLink.includes("loop")
      ? "it is a loop of symbolic links"
      : "it is a broken symbolic link";
  if (code === "ENOENT" || code === "ENOTDIR" || code === "EEXIST" || code === "ELOOP") {
    // The first ancestor that is missing, not a folder, or a bad link explains it.
    const ancestors: string[] = [];
    for (let p = path.dirname(abs); ; p = path.dirname(p)) {
      ancestors.unshift(p);
      if (path.dirname(p) === p) break;
    }
    for (const p of ancestors) {
      const problem = folderProblem(p);
      if (problem) return problem;
    }
    if (code === "ELOOP") return "it is a loop of symbolic links";
    if (code === "EEXIST") return "it exists and is not a folder";
    if (code === "ENOTDIR") return "a part of the path is not a folder";
    // Every folder exists, yet no entry could be created: procfs and sysfs answer this way.
    return `${path.dirname(abs)} does not accept new files`;
  }
  return plainReason(code);
}

/** A Node error code in words: "no space left on the device" for ENOSPC. */
export function plainReason(code: string | undefined): string {
  return (code && reasons[code]) ?? `${code ?? "unknown"} error`;
}

/** The OutputError for a failed write or mkdir of `target` (a Node fs error `e`). */
export function outputError(e: unknown, target?: string, shown = target): OutputError {
  const err = e as NodeJS.ErrnoException;
  const file = target ?? err.path ?? "output";
  let why = reason(err.code, file);
  if (shown !== undefined && shown !== file) why = why.replace(/^it /, `${file} `);
  return new OutputError(`cannot write ${shown ?? file}: ${why}`);
}

const isErrno = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string";

/**
 * Creates folder `dir` and its missing parents and checks that it takes files. Node's
 * `mkdirSync(..., { recursive: true })` spins forever where a folder exists but refuses new
 * entries with ENOENT (/proc, /sys, dangling links), so the parents are made one by one here.
 */
export function prepareOutputDir(dir: string): void {
  const missing: string[] = [];
  let p = path.resolve(dir);
  for (;;) {
    const st = tryStat(p);
    if (st) {
      if (!st.isDirectory())
        throw new OutputError(
          `cannot write ${dir}: ${p === path.resolve(dir) ? "it exists and is not a folder" : `${p} is not a folder`}`,
        );
      break;
    }
    missing.unshift(p);
    if (path.dirname(p) === p) break;
    p = path.dirname(p);
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if (!(isErrno(e) && e.code === "EEXIST" && tryStat(m)?.isDirectory()))
        throw outputError(e, m, dir); // explained by the folder that could not be made
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw outputError(e, dir);
  }
}

/** Opens a named pipe or socket without blocking: fails at once (ENXIO) when nobody reads it. */
function probeReader(file: string): void {
  closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
}

/**
 * Checks, before the work that produces it, that `file` can be written: not a folder, its
 * folder exists and takes files, a pipe has a reader. Writing can still fail (a full disk).
 */
export function checkOutputFile(file: string, inputs: readonly (string | undefined)[] = []): void {
  refuseOverwritingInputs(file, inputs);
  try {
    const st = tryStat(file);
    if (st) {
      if (st.isDirectory()) throw Object.assign(new Error(), { code: "EISDIR" });
      if (st.isFIFO() || st.isSocket()) probeReader(file);
      accessSync(file, constants.W_OK);
      return;
    }
    // A dangling link is written through: its target is the file to create.
    const link = tryStat(file, true)?.isSymbolicLink();
    const created = link ? path.resolve(path.dirname(file), readlinkSync(file)) : file;
    if (link && tryStat(created, true))
      throw new OutputError(
        `cannot write ${file}: ${folderProblem(file)?.includes("loop") ? "it is a loop of symbolic links" : "it is a broken symbolic link"}`,
      );
    const problem = folderProblem(path.dirname(path.resolve(created)));
    if (problem) throw new OutputError(`cannot write ${file}: ${problem}`);
    // Creating it is the only sure test (procfs refuses entries that access() allows).
    closeSync(openSync(created, "wx"));
    unlinkSync(created);
  } catch (e) {
    if (e instanceof OutputError) throw e;
    throw outputError(e, file);
  }
}

/**
 * An output that is one of the command's inputs (the model, its weights, a clip: also through
 * a link or another name) would be replaced by the result: refused before any work. Only
 * files that exist can clash (an output not yet there replaces nothing), and they are compared
 * as files, by device and inode; a missing input is its reader's error to report.
 */
function refuseOverwritingInputs(file: string, inputs: readonly (string | undefined)[]): void {
  const out = tryStat(file);
  if (!out?.isFile()) return;
  for (const input of inputs) {
    const st = input === undefined ? undefined : tryStat(input);
    if (st && st.dev === out.dev && st.ino === out.ino)
      throw new UsageError(`${file} is also an input of this command; write it elsewhere`);
  }
}

/** Writes `data` to `file`, or throws an OutputError that names the file and the reason. */
export function writeOutput(file: string, data: Uint8Array | string): void {
  try {
    const st = tryStat(file);
    if (st?.isFIFO() || st?.isSocket()) probeReader(file); // a blocking open would hang
    writeFileSync(file, data);
  } catch (e) {
    throw outputError(e, file);
  }
}

/** Runs `write` (code that writes files itself); its fs errors become OutputErrors. */
export function writingFiles<T>(write: () => T): T {
  try {
    return write();
  } catch (e) {
    if (isErrno(e)) throw outputError(e);
    throw e;
  }
}
