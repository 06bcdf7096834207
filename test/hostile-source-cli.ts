// The CLI as a child process for the hostile-source tests: a hang or a crash must fail the
// test, not stall vitest, and the child's peak memory is measured.
import { csncEntry, root, spawnCsnc } from "./csnc-process.js";

export { root };
const MiB = 2 ** 20;

const entry = csncEntry();

/** `csnc ARGS...` in `cwd`, killed after 60 s; its time and peak memory. */
export function csnc(args: string[], cwd = root) {
  const r = spawnCsnc(entry, args, { cwd });
  return { ...r, ms: 1000 * r.seconds, maxRssMiB: r.rssBytes / MiB };
}
