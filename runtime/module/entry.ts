// The runtime that `csnc compile --emit module` embeds in every generated module: portable
// (browsers and Node), no compiler inside, no eval, no network access of its own (weights are
// fetched only from a URL the caller gives). Bundled by `npm run build` into dist/module-runtime.js.
// Browsers reach no `node:` import: every one is dynamic and behind `isNode`.
import type { Plan } from "../../compiler/plan.js";
// The same backend choices, and meanings, as `csnc run --backend`.
import { backends as backendChoices, icdDirs, swiftshaderIcd, type Backend } from "../backends.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { describeAdapter, isCpuAdapter, requestDevice } from "../device.js";
import { createExecutor, type Executor } from "../executor.js";
import { loadWeights } from "../load-weights.js";
import { namings, type Naming } from "../naming.js";
import type { Tensor } from "../safetensors.js";
import { packWeights, randomTensors } from "../weights.js";

export type { Backend };

export interface ModelInfo {
  readonly model: string;
  /** N x C x T x H x W, as compiled. */
  readonly input: readonly number[];
  readonly classes: number;
  readonly params: number;
  readonly macs: number;
  /** vendor / architecture / device / description of the adapter, once loaded. */
  adapter?: string;
  /** How the adapter was reached: vulkan, swiftshader, opengles, browser or device (the caller's). */
  backend?: string;
  /** The naming scheme of the weights (detected with "auto"). */
  naming?: Naming;
  /** The BN epsilon the model's `eps` parameter folded with. */
  bnEps?: number;
}

/** How the model's `eps` parameter reaches its BN layers, recorded at compile time. */
export interface EpsInfo {
  /** BN layer paths whose epsilon is the `eps` parameter. */
  readonly layers: readonly string[];
  /** The value compiled in. */
  readonly value: number;
  /** Whether `--set eps` changed it at compile time (then the weights' scheme does not). */
  readonly set: boolean;
}

/** The `webgpu` package's namespace, as `await import("webgpu")` gives it. */
export interface WebGpuPackage {
  create(flags: string[]): GPU;
  readonly globals?: object;
}

export interface LoadOptions {
  /** URL string, file path (Node), ArrayBuffer or Uint8Array of a .safetensors or PyTorch checkpoint. */
  readonly weights?: string | ArrayBuffer | Uint8Array;
  /** He-normal random weights (as `csnc run` without --weights), for a first try. */
  readonly randomWeights?: boolean;
  /** Seed of the random weights (default 1, as `csnc run --seed`). */
  readonly seed?: number;
  readonly device?: GPUDevice;
  readonly naming?: Naming | "auto";
  /** BN epsilon for the model's `eps` parameter; default: the weights' metadata or scheme. */
  readonly eps?: number;
  /** Node only: which WebGPU adapter, as `csnc run --backend`. */
  readonly backend?: Backend;
  /** Node only: the `webgpu` package, when the module cannot import it itself. */
  readonly webgpu?: WebGpuPackage;
}

export interface RunResult {
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
  /** Per sample, the five most probable classes. */
  readonly top: { readonly class: number; readonly probability: number }[][];
}

export interface LoadedModel {
  readonly info: ModelInfo;
  run(clip: Float32Array): Promise<RunResult>;
  destroy(): void;
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

function isNotFound(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return (
    (err?.code === "ERR_MODULE_NOT_FOUND" || err?.code === "MODULE_NOT_FOUND") &&
    /['"]webgpu['"]/.test(err.message)
  );
}

// `import("webgpu")` resolves from this file's folder, which is rarely the app's: the package
// is looked for beside the module, then in the working directory and the main script's folder.
async function importDawn(given?: WebGpuPackage): Promise<WebGpuPackage> {
  if (given) {
    if (typeof given.create !== "function")
      throw new CsncError(
        RuntimeCodes.noAdapter,
        "load({ webgpu }) expects the 'webgpu' package's namespace: webgpu: await import(\"webgpu\")",
      );
    return given;
  }
  const [{ createRequire }, path, url] = await Promise.all([
    import(/* @vite-ignore */ "node:module"),
    import(/* @vite-ignore */ "node:path"),
    import(/* @vite-ignore */ "node:url"),
  ]);
  const here = import.meta.url.startsWith("file:")
    ? path.dirname(url.fileURLToPath(import.meta.url))
    : undefined;
  try {
    return (await import(/* @vite-ignore */ "webgpu")) as WebGpuPackage;
  } catch (e) {
    if (!isNotFound(e))
      throw new CsncError(
        RuntimeCodes.noAdapter,
        `the 'webgpu' package was found beside the module${here ? ` (${here})` : ""} but failed to load: ${(e as Error).message}`,
      );
  }
  const dirs = [process.cwd(), process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : ""];
  const looked = here ? [here] : [];
  for (const dir of dirs.filter((d, i) => d && dirs.indexOf(d) === i && d !== here)) {
    looked.push(dir);
    let file: string;
    try {
      file = createRequire(path.join(dir, "csnc-resolve.js")).resolve("webgpu");
    } catch (e) {
      if (isNotFound(e)) continue;
      throw e;
    }
    try {
      return (await import(/* @vite-ignore */ url.pathToFileURL(file).href)) as WebGpuPackage;
    } catch (e) {
      throw new CsncError(
        RuntimeCodes.noAdapter,
        `the 'webgpu' package at ${file} failed to load: ${(e as Error).message}`,
      );
    }
  }
  throw new CsncError(
    RuntimeCodes.noAdapter,
    `the generated module needs the 'webgpu' package in Node: run \`npm install webgpu\` in your app (looked from ${looked.join(", ")} and their parent folders), or pass load({ webgpu: await import("webgpu") }) or load({ device })`,
  );
}

interface Acquired {
  readonly device: GPUDevice;
  readonly adapter: string;
  readonly backend: string;
}

// Node without a caller's device: Dawn with the adapter order of `csnc run --backend auto`
// (runtime/adapter-node.ts): a real GPU through Vulkan, then Mesa llvmpipe through OpenGL ES,
// then SwiftShader; a named backend takes only that one.
async function nodeDevice(backend: Backend, given?: WebGpuPackage): Promise<Acquired> {
  const [fs, os, path] = await Promise.all([
    import(/* @vite-ignore */ "node:fs"),
    import(/* @vite-ignore */ "node:os"),
    import(/* @vite-ignore */ "node:path"),
  ]);
  if (!process.env.XDG_RUNTIME_DIR) {
    // Mesa wants a private runtime folder; without one it only complains.
    const dir = path.join(os.tmpdir(), `csnc-xdg-${process.getuid?.() ?? 0}`);
    // Not recursive: Node's recursive mkdir spins forever when TMPDIR lies under /proc.
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch {
      // EEXIST is fine; any other failure only leaves Mesa's warnings in.
    }
    if (fs.existsSync(dir)) process.env.XDG_RUNTIME_DIR = dir;
  }
  const webgpu = await importDawn(given);
  if (webgpu.globals) Object.assign(globalThis, webgpu.globals);
  const g = globalThis as unknown as { __csncGpus?: GPU[] };
  g.__csncGpus ??= []; // Dawn instances must outlive their devices

  const vulkan = async (icd?: string) => {
    const saved = {
      VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES,
      VK_LOADER_DRIVERS_DISABLE: process.env.VK_LOADER_DRIVERS_DISABLE,
    };
    if (icd) process.env.VK_ICD_FILENAMES = icd;
    else if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
      // Dawn rejects Mesa's lavapipe, loudly; the loader need not offer it (as csnc run).
      const disabled = saved.VK_LOADER_DRIVERS_DISABLE;
      process.env.VK_LOADER_DRIVERS_DISABLE = disabled ? `${disabled},*lvp*` : "*lvp*";
    }
    try {
      const gpu = webgpu.create(["backend=vulkan"]);
      g.__csncGpus!.push(gpu);
      return (await gpu.requestAdapter({ powerPreference: "high-performance" })) ?? undefined;
    } finally {
      // The loader has read them; later loads in this process may want another driver.
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
  const opengles = async () => {
    process.env.EGL_PLATFORM ??= "surfaceless";
    const gpu = webgpu.create(["backend=opengles"]);
    g.__csncGpus!.push(gpu);
    return (
      (await gpu.requestAdapter({ featureLevel: "compatibility" } as GPURequestAdapterOptions)) ??
      undefined
    );
  };
  // Mesa's lavapipe is too old for Dawn; probing it only prints warnings.
  const gpuDriver = () =>
    !!(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) ||
    icdDirs.some(
      (dir) =>
        fs.existsSync(dir) &&
        fs.readdirSync(dir).some((f) => f.endsWith(".json") && !/lvp|lavapipe/i.test(f)),
    );
  // A Linux machine without GPU device nodes has no GPU for Vulkan to find; probing anyway
  // prints the loader's complaints into the app's stderr (csnc's CLI filters them, a module cannot).
  const gpuDevice = () =>
    process.platform !== "linux" ||
    fs.existsSync("/dev/dxg") ||
    (fs.existsSync("/dev/dri") && fs.readdirSync("/dev/dri").some((f) => f.startsWith("render"))) ||
    fs.readdirSync("/dev").some((f) => /^nvidia\d/.test(f));
  const done = async (adapter: GPUAdapter, name: string): Promise<Acquired> => ({
    device: await requestDevice(adapter),
    adapter: describeAdapter(adapter),
    backend: name,
  });

  const tried: string[] = [];
  if (backend === "auto" || backend === "gpu" || backend === "vulkan") {
    if (backend !== "auto" || (gpuDriver() && gpuDevice())) {
      const a = await vulkan();
      if (a && (backend === "vulkan" || !isCpuAdapter(a))) return done(a, "vulkan");
      tried.push(
        a
          ? `Vulkan found only a CPU adapter (${describeAdapter(a)})`
          : "Vulkan found no GPU driver",
      );
    } else
      tried.push(
        gpuDriver()
          ? "no GPU device (/dev/dri, /dev/nvidia*)"
          : "no Vulkan GPU driver is installed",
      );
    if (backend !== "auto")
      throw new CsncError(
        RuntimeCodes.noAdapter,
        `no GPU adapter: ${tried.join("; ")}. Install the GPU's Vulkan driver, or use backend "opengles" or "swiftshader".`,
      );
  }
  if (backend === "auto" || backend === "opengles" || backend === "llvmpipe") {
    const a = await opengles();
    if (a) return done(a, "opengles");
    tried.push(
      "OpenGL ES found no adapter (apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)",
    );
    if (backend !== "auto")
      throw new CsncError(RuntimeCodes.noAdapter, `no OpenGL ES adapter: ${tried.at(-1)}`);
  }
  const a = fs.existsSync(swiftshaderIcd) ? await vulkan(swiftshaderIcd) : undefined;
  if (a) return done(a, "swiftshader");
  tried.push(
    `SwiftShader is not available (${swiftshaderIcd} missing: apt-get install chromium libvulkan1)`,
  );
  throw new CsncError(
    RuntimeCodes.noAdapter,
    backend === "swiftshader"
      ? `no SwiftShader adapter: ${tried.at(-1)}`
      : `no WebGPU adapter could be found: ${tried.join("; ")}.`,
  );
}

async function browserDevice(): Promise<Acquired> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu)
    throw new CsncError(RuntimeCodes.noAdapter, "this browser has no WebGPU (navigator.gpu)");
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new CsncError(RuntimeCodes.noAdapter, "navigator.gpu offered no adapter");
  return {
    device: await requestDevice(adapter),
    adapter: describeAdapter(adapter),
    backend: "browser",
  };
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
    if (w.kind === "conv" && w.bn && layers.has(w.bn.path)) return { ...w, bn: { ...w.bn, eps } };
    if (w.kind === "affine" && layers.has(w.path)) return { ...w, eps };
    return w;
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

    let tensors: ReadonlyMap<string, Tensor>;
    let resolved: Naming = "csnc";
    let schemeEps: number | undefined;
    let metadata: Readonly<Record<string, string>> = {};
    let source: string;
    if (options.randomWeights) {
      if (options.weights !== undefined)
        badOption("pass either weights or randomWeights, not both");
      const seed = options.seed ?? 1;
      if (!Number.isSafeInteger(seed) || seed < 0)
        badOption(`seed must be a non-negative integer; got ${String(seed)}`);
      source = "random weights";
      tensors = randomTensors(plan, seed);
    } else {
      if (options.weights === undefined)
        throw new CsncError(
          RuntimeCodes.badFile,
          "load needs weights (a .safetensors or PyTorch checkpoint: URL, file path, ArrayBuffer or Uint8Array), or randomWeights: true for a first try",
        );
      source = typeof options.weights === "string" ? options.weights : "weights";
      const bytes = await readWeights(options.weights);
      try {
        const loaded = loadWeights(bytes, source, naming);
        ({ tensors, metadata } = loaded);
        resolved = loaded.naming;
        schemeEps = loaded.bnEps;
      } catch (e) {
        throw forModule(e);
      }
    }
    // As `csnc run`: the weights' epsilon, unless the model was compiled with --set eps.
    const bnEps = options.eps ?? (eps && !eps.set ? schemeEps : undefined) ?? eps?.value;
    const packPlan =
      eps && bnEps !== undefined && bnEps !== eps.value
        ? withEps(plan, new Set(eps.layers), bnEps)
        : plan;
    let packed: Float32Array[];
    try {
      packed = packWeights(packPlan, tensors, resolved, source);
    } catch (e) {
      const sets = otherParameters(metadata, params);
      if (!(e instanceof CsncError) || !sets) throw forModule(e);
      throw new CsncError(
        e.code,
        `${(forModule(e) as Error).message}\n  hint: the weights were made for ${metadata.model ?? "the model"} with other parameters: compile it with ${sets}`,
      );
    }
    let own: Acquired | undefined;
    if (!options.device) {
      if (isNode && !(globalThis.navigator as Navigator | undefined)?.gpu)
        own = await nodeDevice(backend, options.webgpu);
      else if (backend !== "auto")
        badOption(`backend "${backend}" applies in Node; a browser offers navigator.gpu's adapter`);
      else own = await browserDevice();
    } else if (backend !== "auto") badOption("pass either device or backend, not both");
    const device = options.device ?? own!.device;
    const info: ModelInfo = {
      ...baseInfo,
      adapter: own?.adapter ?? "caller's device",
      backend: own?.backend ?? "device",
      naming: resolved,
      ...(eps ? { bnEps } : {}),
    };
    let executor: Executor;
    try {
      executor = await createExecutor(device, plan, packed);
    } catch (e) {
      if (own) device.destroy();
      throw e;
    }
    const expected = plan.input.shape.reduce((a, b) => a * b, 1);
    const [n, classes] = plan.logits.shape as [number, number];
    return {
      info,
      async run(clip) {
        if (!(clip instanceof Float32Array) || clip.length !== expected) {
          throw new CsncError(
            RuntimeCodes.badInput,
            `the clip must be a Float32Array of ${plan.input.shape.join("x")} = ${expected} values (N x 3 x T x H x W, as compiled); got ${clip?.length ?? "none"}`,
          );
        }
        const out = await executor.run(clip);
        return { ...out, top: top5(out.probabilities, n, classes) };
      },
      destroy() {
        executor.destroy();
        if (own) device.destroy();
      },
    };
  };
}
