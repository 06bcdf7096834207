// The CLI as a child process for the hostile-source tests: a hang or a crash must fail the
// test, not stall vitest, and the child's peak memory is measured.
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { csncEntry, root, spawnCsnc } from "./csnc-process.js";

export { root };
const MiB = 2 ** 20;

// Every source the tests exercise: the built CLI only when it is at least as new as all of them.
const entry = csncEntry([
  ...readdirSync(path.join(root, "grammar"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `grammar/${f}`),
  ...["source", "node-host", "resolve", "elaborate", "evaluate", "index"].map(
    (f) => `compiler/${f}.ts`,
  ),
  ...["check", "load", "report"].map((f) => `cli/${f}.ts`),
]);

/** `csnc ARGS...` in `cwd`, killed after 60 s; its time and peak memory. */
export function csnc(args: string[], cwd = root) {
  const r = spawnCsnc(entry, args, { cwd });
  return { ...r, ms: 1000 * r.seconds, maxRssMiB: r.rssBytes / MiB };
}
