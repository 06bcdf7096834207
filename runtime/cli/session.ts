// What `run` and `profile` share: build the model for a shape, pick the adapter, compile for
// the device, load (or invent) the weights, and create the executor.
import { loadModel } from "../../compiler/cli/load.js";
import { constants as bufferConstants } from "node:buffer";
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  type Stats,
} from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { plainReason, type CliIo } from "../../compiler/cli/io.js";
import {
  maxInputElements,
  parseDims,
  ranges,
  toCheckOptions,
  type ModelOptions,
} from "../../compiler/cli/options.js";
import { compileGraph } from "../../compiler/compile.js";
import { type Graph, type Value } from "../../compiler/index.js";
import { PlanError, type Plan } from "../../compiler/plan.js";
import { acquireAdapter, type AcquiredAdapter, type Backend } from "../adapter-node.js";
import { tuningFor } from "../../compiler/kernels/tuning.js";
import { kernelLimits, requestDevice } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { createExecutor, type Executor } from "../executor.js";
import type { Naming } from "../naming.js";
import { loadWeights, type LoadedWeights } from "../load-weights.js";
import { packWeights, randomTensors } from "../weights.js";

export interface SessionOptions extends Omit<ModelOptions, "input" | "batch"> {
  weights?: string;
  naming: Naming | "auto";
  backend: Backend;
  seed: number;
  json?: boolean;
}

export interface Session {
  readonly graph: Graph;
  readonly plan: Plan;
  readonly adapter: AcquiredAdapter;
  readonly device: GPUDevice;
  readonly executor: Executor;
  /** Milliseconds to check and compile the model. */
  readonly compileMs: number;
}

const MiB = 2 ** 20;
const amount = (n: number) =>
  n < MiB
    ? `${n} bytes`
    : n < 2 ** 30
      ? `${+(n / MiB).toFixed(1)} MiB`
      : `${+(n / 2 ** 30).toFixed(1)} GiB`;

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
      throw fail(`it holds ${amount(st.size)}; csnc reads ${what} files of up to ${amount(cap)}`);
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
          `it holds more than ${amount(cap)}; csnc reads ${what} files of up to ${amount(cap)}`,
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

/** Input size as the options give it: C x T x H x W and N; either may be absent (as declared, 1). */
export interface Dims {
  readonly input?: string;
  readonly batch?: string;
}

/**
 * `[N, C, T, H, W]` as Dims; empty means as declared. `source` names where the shape comes from
 * (an input clip's tensor, --shape): its dimensions are checked here, so that a bad one is
 * blamed on it rather than on an option the command may not even have.
 */
export function shapeDims(shape: readonly number[], source = "--shape"): Dims {
  if (!shape.length) return {};
  const names = "NCTHW";
  const bad = (why: string) =>
    new CsncError(RuntimeCodes.badInput, `${source} has shape ${shape.join("x")}; ${why}`);
  if (shape.length !== 5) throw bad("expected N x C x T x H x W");
  shape.forEach((d, i) => {
    const r = i === 0 ? ranges["--batch"] : ranges.dimension;
    if (!(Number.isSafeInteger(d) && d >= r.min && d <= r.max))
      throw bad(
        `its ${names[i]}${i === 0 ? " (the batch)" : ""} is ${d}, not from ${r.min} to ${r.max}`,
      );
  });
  const elements = shape.reduce((a, b) => a * b, 1);
  if (elements > maxInputElements)
    throw bad(`it holds ${elements} elements; the limit is ${maxInputElements} (4 GiB of float32)`);
  return { input: shape.slice(1).join("x"), batch: String(shape[0]) };
}

/**
 * The checked model; when the weights say which BN epsilon their network used (a scheme's
 * convention or an imported file's metadata) and the model has an `eps` parameter that the
 * user did not set, the model is built with it.
 */
export function modelFor(
  io: CliIo,
  file: string,
  opts: ModelOptions,
  dims: Dims,
  weights?: LoadedWeights,
): Graph | undefined {
  const options = toCheckOptions({ ...opts, ...dims });
  const graph = loadModel(io, file, options, opts.json);
  // An input's shape specialises the model, but other channels than the file declares are more
  // often a layout mistake (N x T x C x H x W) than a new model.
  const declared = graph?.declaredInput?.[0];
  const given = graph?.nodes[0]?.shape[1];
  if (declared !== undefined && given !== declared && !opts.json)
    io.err(
      `note: the input has ${given} channels where ${path.basename(file)} declares ${declared} (input ${graph!.declaredInput!.join(" x ")}); inputs are N x C x T x H x W`,
    );
  if (!graph || !weights) return graph;
  // Parameters an imported file recorded (width, classes, ...) and the scheme's BN epsilon,
  // for every model parameter the user did not set.
  const recorded: Record<string, Value> = weights.metadata.model_parameters
    ? JSON.parse(weights.metadata.model_parameters)
    : {};
  if (weights.bnEps !== undefined) recorded.eps = { type: "float", value: weights.bnEps };
  const set = new Map(options.set);
  for (const [name, value] of Object.entries(recorded))
    if (!set.has(name) && name in graph.params) set.set(name, value);
  if (set.size === (options.set?.size ?? 0)) return graph;
  return loadModel(io, file, { ...options, set }, opts.json);
}

/**
 * Builds the model, compiles it for the chosen adapter and loads its weights. Undefined after
 * reporting errors. `shrink` names the command's options that make the input smaller, for
 * the hint of a model too large for the device.
 */
export async function openSession(
  io: CliIo,
  file: string,
  opts: SessionOptions,
  dims: Dims,
  shrink = "--input or --batch",
): Promise<Session | undefined> {
  const start = performance.now();
  const weights = opts.weights
    ? loadWeights(readFile(opts.weights, "weights"), opts.weights, opts.naming)
    : undefined;
  const graph = modelFor(io, file, opts, dims, weights);
  if (!graph) return undefined;
  const checkedMs = performance.now() - start;

  let adapter = await acquireAdapter(opts.backend);
  let device = await requestDevice(adapter.adapter);
  try {
    const compileStart = performance.now();
    let plan: Plan;
    try {
      plan = compileGraph(graph, kernelLimits(device), tuningFor(adapter.adapter.info));
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      // auto takes llvmpipe first for speed, but its buffers are limited to 128 MiB;
      // SwiftShader, next in line, allows 1 GiB.
      const fallback = (opts.backend ?? "auto") === "auto" && adapter.backend === "opengles";
      let planned: Plan | undefined;
      if (fallback) {
        const next = await acquireAdapter("swiftshader").catch(() => undefined);
        if (next) {
          const nextDevice = await requestDevice(next.adapter);
          try {
            planned = compileGraph(graph, kernelLimits(nextDevice), tuningFor(next.adapter.info));
          } catch (again) {
            nextDevice.destroy();
            if (!(again instanceof PlanError)) throw again;
          }
          if (planned) {
            io.err(
              `note: the model is too large for llvmpipe (${e.message.replace(/[:;] use a smaller.*$/s, "")}); running on SwiftShader, which is slower`,
            );
            device.destroy();
            adapter = next;
            device = nextDevice;
          }
        }
      }
      if (!planned)
        throw new CsncError(RuntimeCodes.tooLarge, e.message.replace("--input or --batch", shrink));
      plan = planned;
    }
    const compileMs = checkedMs + performance.now() - compileStart;
    const tensors = weights?.tensors ?? randomTensors(plan, opts.seed);
    const packed = packWeights(
      plan,
      tensors,
      weights?.naming ?? "csnc",
      opts.weights ?? "random weights",
    );
    let executor: Executor;
    try {
      executor = await createExecutor(device, plan, packed);
    } catch (e) {
      // device.ts's out-of-memory hint names stats' options; this command may shrink otherwise.
      if (e instanceof CsncError && e.message.includes("--input or --batch"))
        throw new CsncError(e.code, e.message.replace("--input or --batch", shrink));
      throw e;
    }
    return { graph, plan, adapter, device, executor, compileMs };
  } catch (e) {
    device.destroy();
    throw e;
  }
}

/** A deterministic clip in [-1, 1). */
export function randomInput(shape: readonly number[], seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** `--shape NxCxTxHxW` as numbers, each dimension and the whole in range. */
export function parseShape(text: string, option: string): number[] {
  return parseDims(text, option, "NCTHW");
}

/** runtime/labels/`name`: beside this module in the source tree, or in the installed package. */
function bundledLabels(name: string): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // runtime/cli/session.ts in the source tree; dist/runtime/cli/session.js when built.
  const candidates = [path.resolve(here, "../labels", name)];
  // The package root, found by walking up to csnc's own package.json, holds runtime/labels.
  for (let dir = here; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
        name?: unknown;
      };
      if (pkg.name === "csnc") {
        candidates.push(path.join(dir, "runtime", "labels", name));
        break;
      }
    } catch {
      // no (readable) package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) break;
  }
  return candidates.find((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** The most a labels file may hold: Kinetics-400's names are 6 KB. */
const maxLabelBytes = 64 * MiB;

/**
 * Class names: `kinetics400` (runtime/labels/kinetics400.txt, found from dist/ or the source
 * tree) or a file with one name per line.
 */
export function labelsFrom(option: string): string[] {
  let file = option;
  if (option === "kinetics400") {
    const found = bundledLabels("kinetics400.txt");
    if (!found)
      throw new CsncError(
        RuntimeCodes.badFile,
        "cannot find the kinetics400 labels (runtime/labels/kinetics400.txt) beside csnc; the installation is incomplete",
      );
    file = found;
  }
  return new TextDecoder()
    .decode(readFile(file, "labels", maxLabelBytes))
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
