// The csnc executable as a user runs it, in a child process, with its peak memory: one spawner
// for the tests of hostile inputs (which must end in bounded time and memory) and of the
// executable itself. A hang must fail the test, not stall vitest.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
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

/**
 * The built executable when dist/ is at least as new as every one of `sources` (.ts paths from
 * the repository root; a bare name is a runtime/ module), else the sources through tsx.
 */
export function csncEntry(sources: readonly string[]): string[] {
  const built =
    existsSync(bin) &&
    sources.every((s) => {
      const ts = path.join(root, s.includes("/") ? s : `runtime/${s}`).replace(/(\.ts)?$/, ".ts");
      const js = path.join(root, "dist", path.relative(root, ts)).replace(/\.ts$/, ".js");
      return existsSync(js) && statSync(js).mtimeMs >= statSync(ts).mtimeMs;
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

/** A runner of csnc for `sources` (as csncEntry takes them) with a timeout. */
export function csncRunner(sources: readonly string[], timeoutMs: number) {
  const entry = csncEntry(sources);
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
