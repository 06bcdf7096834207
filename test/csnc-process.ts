// The csnc executable as a user runs it, in a child process, with its peak memory: for tests of
// hostile inputs, which must end in bounded time and memory.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { CsncError } from "../runtime/errors.js";

const root = path.resolve(import.meta.dirname, "..");
const MiB = 2 ** 20;

// Prints the process's peak RSS (KiB) as it exits; the filtered WebGPU child inherits it too.
const probe =
  "data:text/javascript," +
  encodeURIComponent(
    'process.on("exit", () => process.stderr.write(`\\n[maxrss ${process.resourceUsage().maxRSS}]\\n`));',
  );

export interface CsncRun {
  readonly code: number | null;
  /** stdout then stderr, without the memory probe's lines. */
  readonly output: string;
  /** The largest peak RSS of the processes csnc ran in. */
  readonly rssBytes: number;
  readonly seconds: number;
}

/**
 * A runner of the built CLI when dist/ is at least as new as `sources` (runtime/ modules the
 * cases go through), else of the sources through tsx.
 */
export function csncRunner(sources: readonly string[], timeoutMs: number) {
  const built =
    existsSync(path.join(root, "dist/compiler/cli/bin.js")) &&
    sources.every((s) => {
      const js = path.join(root, `dist/runtime/${s}.js`);
      return (
        existsSync(js) &&
        statSync(js).mtimeMs >= statSync(path.join(root, `runtime/${s}.ts`)).mtimeMs
      );
    });
  const entry = built ? ["dist/compiler/cli/bin.js"] : ["--import", "tsx", "compiler/cli/bin.ts"];
  return (...args: string[]): CsncRun => {
    const env = { ...process.env };
    delete env.CSNC_DEBUG;
    const start = performance.now();
    const r = spawnSync(process.execPath, ["--import", probe, ...entry, ...args], {
      cwd: root,
      env,
      encoding: "utf8",
      maxBuffer: 4 * MiB,
      // A read that blocks (a pipe without a writer) must not hang the suite.
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    const all = `${r.stdout}${r.stderr}`;
    const peaks = [...all.matchAll(/\[maxrss (\d+)\]/g)].map((m) => Number(m[1]) * 1024);
    return {
      code: r.status,
      output: all.replace(/\n\[maxrss \d+\]\n/g, ""),
      rssBytes: peaks.length ? Math.max(...peaks) : Infinity,
      seconds: (performance.now() - start) / 1000,
    };
  };
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
