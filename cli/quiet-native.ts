// Dawn's native code writes its warnings straight to file descriptor 2 (llvmpipe's "limit
// artificially reduced", a Vulkan driver it rejects, the Vulkan loader's own complaints),
// where JavaScript cannot intercept them. Commands that open a WebGPU adapter therefore run in
// a child process whose stderr passes through a filter that drops exactly those lines;
// `--verbose` (or CSNC_NATIVE_LOGS=1) runs in-process and shows them.
import { spawn } from "node:child_process";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";

/** Commands that open a WebGPU adapter. */
const webgpuCommands = new Set(["run", "profile", "classify", "tune", "worker", "grad", "train"]);
/** Set in the child: its stderr is filtered, and whether the user's stderr is a terminal. */
export const childMarker = "CSNC_FILTERED_STDERR";

/** Whether `argv` should run in a filtered child. */
export function wantsFilteredChild(argv: readonly string[]): boolean {
  if (process.env[childMarker] !== undefined || process.env.CSNC_NATIVE_LOGS === "1") return false;
  if (argv.includes("--verbose") || argv.includes("--help") || argv.includes("-h")) return false;
  const command = argv.find((a) => !a.startsWith("-"));
  return command !== undefined && webgpuCommands.has(command);
}

/** In a filtered child: progress lines still show when the user's stderr is a terminal. */
export function adoptParentTerminal(): void {
  if (process.env[childMarker] === "tty")
    Object.defineProperty(process.stderr, "isTTY", { value: true, configurable: true });
}

// Dawn's lines: "Warning: ...", " - While ...", "    at Fn (.../third_party/dawn/...)", then a
// blank line; Mesa's "error: XDG_RUNTIME_DIR ..."; the Vulkan loader's "... Loader Message: ...".
const nativeLine = [
  /^Warning: /,
  /^ - While /,
  /^\s+at \w+ \(.*third_party\/dawn\//,
  /^error: XDG_RUNTIME_DIR is invalid/,
  /Loader Message: /,
];

/** A line filter over chunks: drops native lines (and the blank line that ends a group). */
export function nativeFilter(write: (text: string) => void) {
  let pending = "";
  let dropped = false;
  const line = (l: string) => {
    if (nativeLine.some((re) => re.test(l)) || (dropped && l === "")) {
      dropped = true;
      return;
    }
    dropped = false;
    write(l + "\n");
  };
  return {
    push(chunk: string) {
      const parts = (pending + chunk).split("\n");
      pending = parts.pop()!;
      parts.forEach(line);
      // A progress line ("\r...") has no newline: show it at once.
      if (pending.startsWith("\r")) {
        write(pending);
        pending = "";
      }
    },
    end() {
      if (pending && !nativeLine.some((re) => re.test(pending))) write(pending);
      pending = "";
    },
  };
}

/** Runs this executable again with `argv` in a child whose stderr is filtered; its exit code. */
export function runFiltered(argv: readonly string[], entry: string): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(entry), ...argv], {
    stdio: ["inherit", "inherit", "pipe"],
    env: { ...process.env, [childMarker]: process.stderr.isTTY ? "tty" : "pipe" },
  });
  const filter = nativeFilter((text) => process.stderr.write(text));
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => filter.push(chunk));
  // Signals sent to this process go on to the child (a terminal's Ctrl-C reaches both: a
  // second SIGINT is harmless); this process exits as the child did.
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const handlers = signals.map((s) => [s, () => child.kill(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve) => {
    child.on("error", (e) => {
      process.stderr.write(`csnc: error: could not start a child process: ${e.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => {
      filter.end();
      for (const [s, h] of handlers) process.off(s, h);
      if (code !== null) return resolve(code);
      resolve(signalExit(signal ?? "SIGKILL"));
    });
  });
}

/** The exit code for a child ended by `signal`, with a message unless the user sent it. */
function signalExit(signal: NodeJS.Signals): number {
  const number = osConstants.signals[signal] ?? 9;
  if (userSignals.has(signal)) return 128 + number; // asked for: the shell's convention, no message
  const why =
    signal === "SIGKILL"
      ? "it was killed (SIGKILL), most likely by the system for using too much memory: try a smaller input"
      : `it crashed with ${signal}, probably in the WebGPU driver; rerun with --verbose to see the driver's messages`;
  process.stderr.write(`csnc: error: the run did not finish: ${why}\n`);
  return 1;
}

const userSignals = new Set<string>(["SIGINT", "SIGTERM", "SIGHUP"]);
