// The CLI as a child process for the hostile-source tests: a hang or a crash must fail the
// test, not stall vitest, and the child's peak memory is measured.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";

export const root = path.resolve(import.meta.dirname, "..");

// The built CLI when it is at least as new as every source the tests exercise, else the
// sources through tsx (slower to start, never stale).
const sources = [
  ...readdirSync(path.join(root, "grammar")).map((f) => `grammar/${f}`),
  ...["source", "node-host", "resolve", "elaborate", "evaluate", "index"].map(
    (f) => `compiler/${f}.ts`,
  ),
  ...["check", "load", "report"].map((f) => `compiler/cli/${f}.ts`),
].filter((f) => f.endsWith(".ts"));
const bin = path.join(root, "dist/compiler/cli/bin.js");
const built =
  existsSync(bin) &&
  sources.every((f) => {
    const js = path.join(root, "dist", f.replace(/\.ts$/, ".js"));
    return existsSync(js) && statSync(js).mtimeMs >= statSync(path.join(root, f)).mtimeMs;
  });
const entry = built ? [bin] : ["--import", "tsx", path.join(root, "compiler/cli/bin.ts")];

// Prints the process's peak RSS (KiB) on stderr as it exits.
const probe =
  "data:text/javascript," +
  encodeURIComponent(
    'process.on("exit", () => process.stderr.write(`\\n[maxrss ${process.resourceUsage().maxRSS}]\\n`));',
  );

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  ms: number;
  maxRssMiB: number;
}

/** `csnc ARGS...` in `cwd`, killed after 60 s. */
export function csnc(args: string[], cwd = root): CliResult {
  const env = { ...process.env };
  delete env.CSNC_DEBUG;
  const start = performance.now();
  const r = spawnSync(process.execPath, ["--import", probe, ...entry, ...args], {
    cwd,
    env,
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20,
    timeout: 60_000,
  });
  const ms = performance.now() - start;
  const rss = /\n\[maxrss (\d+)\]\n$/.exec(r.stderr);
  return {
    code: r.status,
    signal: r.signal,
    out: r.stdout,
    err: rss ? r.stderr.slice(0, rss.index) : r.stderr,
    ms,
    maxRssMiB: rss ? Number(rss[1]) / 1024 : Infinity,
  };
}
