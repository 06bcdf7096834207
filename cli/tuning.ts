// Where measured kernel choices come from for run, profile, classify and compile: `--tuning
// FILE`, else the user's tuning cache, which `csnc tune` also writes, so that a second run on
// the same adapter reuses the measurements. A bad --tuning file is an error; a bad cache only
// a warning (the defaults apply), since the user did not name it.
import { lstatSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Option } from "commander";
import { CsncError } from "../runtime/errors.js";
import {
  mergeTuning,
  parseTuningFile,
  type TuningEntry,
  type TuningFile,
} from "../runtime/tune/tuning-file.js";
import { outputError, prepareOutputDir, writeOutput, type CliIo } from "./io.js";
import { readFile } from "./read-file.js";

/** Tuning files are small: a few hundred choices. */
const maxTuningBytes = 16 * 2 ** 20;

export const tuningOption = () =>
  new Option(
    "--tuning <file>",
    "measured kernel choices from csnc tune (default: the user's tuning cache, if it has this adapter; 'none' for the built-in defaults)",
  );

/** $XDG_CACHE_HOME/csnc/tuning.json, or ~/.cache/csnc/tuning.json (CSNC_CACHE_DIR overrides). */
export function tuningCachePath(): string {
  const dir =
    process.env.CSNC_CACHE_DIR ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "csnc");
  return path.join(dir, "tuning.json");
}

export function readTuningFile(file: string, warn: (m: string) => void): TuningFile {
  const bytes = readFile(file, "tuning", maxTuningBytes);
  return parseTuningFile(new TextDecoder().decode(bytes), file, warn);
}

/** The tuning the user asked for: the named file, none, or the cache when it can be read. */
export function loadTuning(
  io: CliIo,
  option: string | undefined,
  quiet = false,
): { file: TuningFile; source: string; explicit: boolean } | undefined {
  const warn = (m: string) => quiet || io.err(`warning: ${m}`);
  if (option === "none") return undefined;
  if (option !== undefined)
    return { file: readTuningFile(option, warn), source: option, explicit: true };
  const cache = tuningCachePath();
  try {
    return { file: readTuningFile(cache, warn), source: cache, explicit: false };
  } catch (e) {
    if (!(e instanceof CsncError)) throw e;
    // No cache yet is the usual case; a damaged one is said once and left for tune to replace.
    if (!/no such file/.test(e.message)) warn(`${e.message}; using the default kernel choices`);
    return undefined;
  }
}

/**
 * Writes a tuning file whole: through a temporary file and a rename where `file` is a plain
 * file or absent, so an interrupted write never loses the other adapters' entries; through
 * writeOutput (links followed, pipes and devices as given) otherwise.
 */
export function writeTuningFile(file: string, tuning: TuningFile): void {
  const text = JSON.stringify(tuning, null, 2) + "\n";
  let plain = true;
  try {
    plain = lstatSync(file).isFile();
  } catch {
    plain = true; // absent: created by the rename
  }
  if (!plain) return writeOutput(file, text);
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  } catch (e) {
    rmSync(temporary, { force: true });
    throw outputError(e, file);
  }
}

/** Merges `entry` into the cache (written whole, so never half-written). */
export function updateTuningCache(io: CliIo, entry: TuningEntry): string | undefined {
  const cache = tuningCachePath();
  try {
    let old: TuningFile | undefined;
    try {
      old = readTuningFile(cache, () => undefined);
    } catch {
      old = undefined; // missing or damaged: replaced
    }
    prepareOutputDir(path.dirname(cache)); // not mkdirSync's recursive form: it spins on /proc
    writeTuningFile(cache, mergeTuning(old, entry));
    return cache;
  } catch (e) {
    io.err(`warning: could not update the tuning cache ${cache}: ${(e as Error).message}`);
    return undefined;
  }
}
