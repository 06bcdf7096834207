// A user-given file (--weights, --input, --labels, a checkpoint), read whole and safely.
import { constants as bufferConstants } from "node:buffer";
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  statSync,
  type Stats,
} from "node:fs";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { roundBytesText } from "../runtime/units.js";
import { plainReason } from "./io.js";

/** The largest file read whole: Node's largest buffer (4 GiB on Node 20), so never bad_alloc. */
export const maxReadBytes = Math.min(4 * 2 ** 30, bufferConstants.MAX_LENGTH);

/** Why `file` could not be stat'ed, opened or read, in words. */
function readProblem(e: unknown, file: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") {
    let link = false;
    try {
      link = lstatSync(file).isSymbolicLink();
    } catch {
      // missing altogether
    }
    return link ? "it is a broken symbolic link" : "no such file";
  }
  if (code === "ENOTDIR") return "a part of the path is not a folder";
  if (code === "ELOOP") return "it is a loop of symbolic links";
  return plainReason(code);
}

function notRegular(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  return st.isDirectory()
    ? "it is a folder"
    : "it is not a regular file (a device, pipe or socket)";
}

/**
 * A user-given file (--weights, --input, --labels, a checkpoint), read whole. Only a regular
 * file (symbolic links followed) of at most `cap` bytes is read: a device such as /dev/zero
 * would grow without end, a pipe could block forever, a folder is a mistake. Errors name the
 * file and say why, as CsncErrors (exit 1).
 */
export function readFile(file: string, what: string, cap = maxReadBytes): Uint8Array {
  const fail = (why: string) =>
    new CsncError(RuntimeCodes.badFile, `cannot read ${what} ${file}: ${why}`);
  const check = (st: Stats) => {
    const odd = notRegular(st);
    if (odd) throw fail(odd);
    if (st.size > cap)
      throw fail(
        `it holds ${roundBytesText(st.size)}; csnc reads ${what} files of up to ${roundBytesText(cap)}`,
      );
  };
  let fd: number;
  try {
    // Looked at before it is opened: opening a device or a pipe may block or have effects.
    check(statSync(file));
    // Non-blocking, and looked at again once open: it may have been replaced in between.
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    if (e instanceof CsncError) throw e;
    throw fail(readProblem(e, file));
  }
  try {
    const st = fstatSync(fd);
    check(st);
    // To the end of the file, not to its stated size: /proc files state 0, and a file may grow
    // while it is read; either way no more than `cap` bytes.
    let buffer = new Uint8Array(st.size);
    let n = 0;
    const probe = new Uint8Array(65536);
    for (;;) {
      if (n < buffer.length) {
        // At most 1 GiB a call: Node refuses reads of 2 GiB or more.
        const got = readSync(fd, buffer, n, Math.min(buffer.length - n, 2 ** 30), null);
        if (got === 0) break;
        n += got;
        continue;
      }
      // Full at its stated size: anything more?
      const got = readSync(fd, probe, 0, probe.length, null);
      if (got === 0) break;
      if (n + got > cap)
        throw fail(
          `it holds more than ${roundBytesText(cap)}; csnc reads ${what} files of up to ${roundBytesText(cap)}`,
        );
      const grown = new Uint8Array(Math.min(cap, Math.max(2 * n, n + got, 65536)));
      grown.set(buffer.subarray(0, n));
      grown.set(probe.subarray(0, got), n);
      buffer = grown;
      n += got;
    }
    return n === buffer.length ? buffer : buffer.subarray(0, n);
  } catch (e) {
    if (e instanceof CsncError) throw e;
    if (e instanceof RangeError)
      throw fail(`not enough memory to hold it (${(e as Error).message})`);
    throw fail(readProblem(e, file));
  } finally {
    closeSync(fd);
  }
}
