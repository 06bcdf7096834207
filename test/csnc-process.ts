// The csnc executable as a user runs it, in a child process, with its peak memory: one spawner
// for the tests of hostile inputs (which must end in bounded time and memory) and of the
// executable itself. A hang must fail the test, not stall vitest.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { CsncError } from "../runtime/errors.js";

export const root = path.resolve(import.meta.dirname, "..");
const MiB = 2 ** 20;
/** The built executable (`npm run build`). */
export const bin = path.join(root, "dist/cli/bin.js");

/** The executable from the sources, through tsx: slower to start, never stale. */
export const sourceEntry = ["--import", "tsx", path.join(root, "cli/bin.ts")];

// Prints the process's peak RSS (KiB) as it exits; the filtered WebGPU child inherits it too.
const probe =
  "data:text/javascript," +
  encodeURIComponent(
    'process.on("exit", () => process.stderr.write(`\\n[maxrss ${process.resourceUsage().maxRSS}]\\n`));',
  );

export interface CsncRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  /** stderr, without the memory probe's lines. */
  readonly err: string;
  /** stdout then stderr, without the memory probe's lines. */
  readonly output: string;
  /** The largest peak RSS of the processes csnc ran in. */
  readonly rssBytes: number;
  readonly seconds: number;
}

/** Every .ts source under the folders the executable is built from. */
function executableSources(dir = root, rel = ""): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const file = path.join(rel, e.name);
    if (e.isDirectory()) return executableSources(dir, file);
    return e.name.endsWith(".ts") ? [file] : [];
  });
}

/**
 * The built executable when every library and CLI source is older than its built file, else
 * the sources through tsx: a test never runs a stale build.
 */
export function csncEntry(): string[] {
  const built =
    existsSync(bin) &&
    ["grammar", "compiler", "runtime", "cli"]
      .flatMap((top) => executableSources(root, top))
      .every((ts) => {
        const js = path.join(root, "dist", ts).replace(/\.ts$/, ".js");
        return existsSync(js) && statSync(js).mtimeMs >= statSync(path.join(root, ts)).mtimeMs;
      });
  return built ? [bin] : sourceEntry;
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
  readonly maxBuffer?: number;
}

/** `csnc ARGS...` through `entry` (csncEntry's), killed (SIGKILL) after the timeout. */
export function spawnCsnc(
  entry: readonly string[],
  args: readonly string[],
  o: SpawnOptions = {},
): CsncRun {
  const env = { ...process.env };
  delete env.CSNC_DEBUG;
  const start = performance.now();
  const r = spawnSync(process.execPath, ["--import", probe, ...entry, ...args], {
    cwd: o.cwd ?? root,
    env,
    encoding: "utf8",
    maxBuffer: o.maxBuffer ?? 64 * MiB,
    timeout: o.timeoutMs ?? 60_000,
    killSignal: "SIGKILL",
  });
  // The probe's line; its leading newline is gone where the native filter took it as a blank line.
  const probeLine = /(?:\n|^)\[maxrss (\d+)\]\n/g;
  const peaks = [...`${r.stdout}${r.stderr}`.matchAll(probeLine)].map((m) => Number(m[1]) * 1024);
  const err = r.stderr.replace(probeLine, "");
  return {
    code: r.status,
    signal: r.signal,
    out: r.stdout,
    err,
    output: `${r.stdout}${err}`,
    rssBytes: peaks.length ? Math.max(...peaks) : Infinity,
    seconds: (performance.now() - start) / 1000,
  };
}

/** A runner of csnc with a timeout. */
export function csncRunner(timeoutMs: number) {
  const entry = csncEntry();
  return (...args: string[]): CsncRun => spawnCsnc(entry, args, { timeoutMs, maxBuffer: 4 * MiB });
}

/** The CsncError message a read ends in (any other outcome fails the test). */
export function refusal(read: () => unknown): string {
  try {
    read();
  } catch (e) {
    expect(e).toBeInstanceOf(CsncError);
    return (e as Error).message;
  }
  throw new Error("expected a CsncError");
}
