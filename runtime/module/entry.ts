// The runtime that `csnc compile --emit module` embeds in every generated module: portable
// (browsers and Node), no compiler inside, no eval, no network access of its own (weights are
// fetched only from a URL the caller gives). Bundled by `npm run build` into dist/module-runtime.js.
// Browsers reach no `node:` import: every one is dynamic and behind `isNode`.
import type { Plan } from "../../compiler/plan.js";
import { acquireAdapter } from "../adapter-node.js";
// The same backend choices, and meanings, as `csnc run --backend`.
import { backends as backendChoices, type Backend } from "../backends.js";
import { requestBrowserDevice } from "../browser.js";
import { requestDevice } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { loadWeights } from "../load-weights.js";
import { namings, type Naming } from "../naming.js";
import {
  createPlanSession,
  packSessionWeights,
  type PackedWeights,
  type Session,
  type SessionWeights,
} from "../plan-session.js";
import type { LoadedModel, LoadOptions, ModelInfo, RunResult, WebGpuPackage } from "./types.js";

export type { LoadedModel, LoadOptions, ModelInfo, RunResult, WebGpuPackage };

/** How the model's `eps` parameter reaches its BN layers, recorded at compile time. */
export interface EpsInfo {
  /** BN layer paths whose epsilon is the `eps` parameter. */
  readonly layers: readonly string[];
  /** The value compiled in. */
  readonly value: number;
  /** Whether `--set eps` changed it at compile time (then the weights' scheme does not). */
  readonly set: boolean;
}

const isNode = typeof process !== "undefined" && !!process.versions?.node;

async function readWeights(w: string | ArrayBuffer | Uint8Array): Promise<Uint8Array> {
  if (w instanceof Uint8Array) return w;
  if (w instanceof ArrayBuffer) return new Uint8Array(w);
  if (typeof w !== "string")
    throw new CsncError(
      RuntimeCodes.badFile,
      "weights must be a URL, a file path, an ArrayBuffer or a Uint8Array",
    );
  if (isNode && !/^(https?|data|blob):/.test(w)) {
    const fs = await import(/* @vite-ignore */ "node:fs/promises");
    try {
      // Only a regular file of a sane size: a pipe would block forever, a device never end.
      const st = await fs.stat(w);
      if (!st.isFile())
        throw new Error(st.isDirectory() ? "it is a folder" : "it is not a regular file");
      if (st.size > 4 * 2 ** 30)
        throw new Error(`it holds ${st.size} bytes; weights files are read up to 4 GiB`);
      return new Uint8Array(await fs.readFile(w));
    } catch (e) {
      throw new CsncError(
        RuntimeCodes.badFile,
        `cannot read weights ${w}: ${(e as Error).message}`,
      );
    }
  }
  const response = await fetch(w);
  if (!response.ok)
    throw new CsncError(RuntimeCodes.badFile, `cannot fetch weights ${w}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The shared readers speak of CLI flags; a module user passes load() options instead.
function forModule(e: unknown): unknown {
  if (e instanceof CsncError && /--naming/.test(e.message))
    return new CsncError(
      e.code,
      e.message
        .replace(/add --naming (\w+)/g, 'add load({ naming: "$1" })')
        .replace(/pass --naming ([\w, ]+)/g, "pass load({ naming }): one of $1"),
    );
  return e;
}

interface Acquired {
  readonly device: GPUDevice;
  readonly adapter: string;
  readonly backend: string;
}

/** A device of the module's own: Dawn in Node (as `csnc run --backend`), else navigator.gpu's. */
async function ownDevice(backend: Backend, webgpu?: WebGpuPackage): Promise<Acquired> {
  if (isNode && !(globalThis.navigator as Navigator | undefined)?.gpu) {
    const a = await acquireAdapter(backend, {
      webgpu,
      forModule: true,
      backendHint: (name) => `backend "${name}"`,
    });
    return { device: await requestDevice(a.adapter), adapter: a.description, backend: a.backend };
  }
  if (backend !== "auto")
    badOption(`backend "${backend}" applies in Node; a browser offers navigator.gpu's adapter`);
  const b = await requestBrowserDevice();
  return { device: b.device, adapter: b.description, backend: "browser" };
}

function top5(p: Float32Array, n: number, classes: number) {
  return [...Array(n).keys()].map((s) => {
    const row = p.subarray(s * classes, (s + 1) * classes);
    return [...row.keys()]
      .sort((a, b) => row[b]! - row[a]!)
      .slice(0, 5)
      .map((c) => ({ class: c, probability: row[c]! }));
  });
}

/** The plan's weight entries with `eps` for the BN layers that take the model's `eps`. */
function withEps(plan: Plan, layers: ReadonlySet<string>, eps: number): Plan {
  const weights = plan.weights.map((w): Plan["weights"][number] => {
    return w.bn && layers.has(w.bn.path) ? { ...w, bn: { ...w.bn, eps } } : w;
  });
  return { ...plan, weights };
}

function badOption(message: string): never {
  throw new CsncError(RuntimeCodes.badInput, message);
}

/** Parameters the weights' metadata records that differ from the compiled ones, as --set flags. */
function otherParameters(metadata: Readonly<Record<string, string>>, params: object): string {
  if (!metadata.model_parameters) return "";
  try {
    const recorded = JSON.parse(metadata.model_parameters) as Record<string, { value: unknown }>;
    const compiled = params as Record<string, { value: unknown }>;
    // eps is folded at load time; the others fix shapes at compile time.
    return Object.entries(recorded)
      .filter(
        ([k, v]) =>
          k !== "eps" && k in compiled && JSON.stringify(v) !== JSON.stringify(compiled[k]),
      )
      .map(([k, v]) => `--set ${k}=${Array.isArray(v.value) ? v.value.join("x") : String(v.value)}`)
      .join(" ");
  } catch {
    return "";
  }
}

/** The `load` function of a generated module, bound to its plan. */
export function createLoader(plan: Plan, baseInfo: ModelInfo, eps?: EpsInfo, params: object = {}) {
  return async function load(options: LoadOptions): Promise<LoadedModel> {
    if (typeof options !== "object" || options === null)
      badOption(
        "load expects an options object: load({ weights }) or load({ randomWeights: true })",
      );
    const backend = options.backend ?? "auto";
    if (!backendChoices.includes(backend))
      badOption(`backend must be one of ${backendChoices.join(", ")}; got ${String(backend)}`);
    const naming = options.naming ?? "auto";
    if (naming !== "auto" && !namings.includes(naming))
      badOption(`naming must be one of auto, ${namings.join(", ")}; got ${String(naming)}`);
    if (options.eps !== undefined && !(options.eps > 0))
      badOption(`eps must be a positive number; got ${String(options.eps)}`);
    if (options.eps !== undefined && !eps)
      badOption(`model ${baseInfo.model} has no eps parameter to set`);

    let weights: SessionWeights;
    let resolved: Naming = "csnc";
    let schemeEps: number | undefined;
    let metadata: Readonly<Record<string, string>> = {};
    if (options.randomWeights) {
      if (options.weights !== undefined)
        badOption("pass either weights or randomWeights, not both");
      const seed = options.seed ?? 1;
      if (!Number.isSafeInteger(seed) || seed < 0)
        badOption(`seed must be a non-negative integer; got ${String(seed)}`);
      weights = { random: seed };
    } else {
      if (options.weights === undefined)
        throw new CsncError(
          RuntimeCodes.badFile,
          "load needs weights (a .safetensors or PyTorch checkpoint: URL, file path, ArrayBuffer or Uint8Array), or randomWeights: true for a first try",
        );
      const source = typeof options.weights === "string" ? options.weights : "weights";
      const bytes = await readWeights(options.weights);
      try {
        const loaded = loadWeights(bytes, source, naming);
        weights = { tensors: loaded.tensors, naming: loaded.naming, source };
        ({ metadata, naming: resolved, bnEps: schemeEps } = loaded);
      } catch (e) {
        throw forModule(e);
      }
    }
    // As `csnc run`: the weights' epsilon, unless the model was compiled with --set eps.
    const bnEps = options.eps ?? (eps && !eps.set ? schemeEps : undefined) ?? eps?.value;
    const epsPlan =
      eps && bnEps !== undefined && bnEps !== eps.value
        ? withEps(plan, new Set(eps.layers), bnEps)
        : plan;
    if (options.device && backend !== "auto") badOption("pass either device or backend, not both");
    // The weights are checked before any adapter is looked for: a wrong file is the first error.
    let packed: PackedWeights;
    try {
      packed = packSessionWeights(epsPlan, weights);
    } catch (e) {
      const sets = otherParameters(metadata, params);
      if (!(e instanceof CsncError) || !sets) throw forModule(e);
      throw new CsncError(
        e.code,
        `${(forModule(e) as Error).message}\n  hint: the weights were made for ${metadata.model ?? "the model"} with other parameters: compile it with ${sets}`,
      );
    }
    const own = options.device ? undefined : await ownDevice(backend, options.webgpu);
    const device = options.device ?? own!.device;
    let session: Session;
    try {
      session = await createPlanSession({ plan: epsPlan, weights: packed, device });
    } catch (e) {
      if (own) device.destroy();
      throw forModule(e);
    }
    const info: ModelInfo = {
      ...baseInfo,
      adapter: own?.adapter ?? "caller's device",
      backend: own?.backend ?? "device",
      naming: resolved,
      ...(eps ? { bnEps } : {}),
    };
    const expected = plan.input.shape.reduce((a, b) => a * b, 1);
    const [n, classes] = plan.logits.shape as [number, number];
    const checkClip = (clip: Float32Array) => {
      if (!(clip instanceof Float32Array) || clip.length !== expected) {
        throw new CsncError(
          RuntimeCodes.badInput,
          `the clip must be a Float32Array of ${plan.input.shape.join("x")} = ${expected} values (N x 3 x T x H x W, as compiled); got ${clip?.length ?? "none"}`,
        );
      }
      return clip;
    };
    return {
      info,
      async run(clip) {
        const out = await session.run(checkClip(clip));
        return { ...out, top: top5(out.probabilities, n, classes) };
      },
      async runMany(clips) {
        const checked = (async function* () {
          for await (const clip of clips) yield checkClip(clip);
        })();
        const outs = await session.runMany(checked);
        return outs.map((out) => ({ ...out, top: top5(out.probabilities, n, classes) }));
      },
      destroy() {
        session.destroy();
        if (own) device.destroy();
      },
    };
  };
}
