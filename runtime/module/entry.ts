// The runtime that `csnc compile --emit module` embeds in every generated module: portable
// (browsers and Node), no compiler inside, no eval, no network access of its own (weights are
// fetched only from a URL the caller gives). Bundled by `npm run build` into dist/module-runtime.js.
import type { Plan } from "../../compiler/plan.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { describeAdapter, requestDevice } from "../device.js";
import { createExecutor, type Executor } from "../executor.js";
import type { Naming } from "../naming.js";
import { readSafetensors } from "../safetensors.js";
import { packWeights } from "../weights.js";

export interface ModelInfo {
  readonly model: string;
  /** N x C x T x H x W, as compiled. */
  readonly input: readonly number[];
  readonly classes: number;
  readonly params: number;
  readonly macs: number;
  adapter?: string;
}

export interface LoadOptions {
  /** URL string, file path (Node), ArrayBuffer or Uint8Array of a .safetensors file. */
  readonly weights: string | ArrayBuffer | Uint8Array;
  readonly device?: GPUDevice;
  readonly naming?: Naming;
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

async function readWeights(w: LoadOptions["weights"]): Promise<Uint8Array> {
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

// Node without a caller's device: Dawn through the `webgpu` package, SwiftShader or llvmpipe
// found the same way the csnc CLI finds them.
async function nodeDevice(): Promise<{ device: GPUDevice; adapter: string }> {
  if (!process.env.XDG_RUNTIME_DIR) {
    // Mesa wants a private runtime folder; without one it only complains.
    const [fs, os, path] = await Promise.all([
      import("node:fs"),
      import("node:os"),
      import("node:path"),
    ]);
    const dir = path.join(os.tmpdir(), `csnc-xdg-${process.getuid?.() ?? 0}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  const webgpu = (await import(/* @vite-ignore */ "webgpu")) as {
    create(flags: string[]): GPU;
    globals: object;
  };
  Object.assign(globalThis, webgpu.globals);
  const g = globalThis as unknown as { __csncGpus?: GPU[] };
  g.__csncGpus ??= []; // Dawn instances must outlive their devices
  const tries: [string[], Record<string, string>, GPURequestAdapterOptions][] = [
    [["backend=vulkan"], {}, {}],
    [["backend=vulkan"], { VK_ICD_FILENAMES: "/usr/lib/chromium/vk_swiftshader_icd.json" }, {}],
    [
      ["backend=opengles"],
      { EGL_PLATFORM: "surfaceless" },
      { featureLevel: "compatibility" } as GPURequestAdapterOptions,
    ],
  ];
  for (const [flags, env, options] of tries) {
    Object.assign(process.env, env);
    const gpu = webgpu.create(flags);
    g.__csncGpus.push(gpu);
    const adapter = await gpu.requestAdapter(options);
    if (adapter) return { device: await requestDevice(adapter), adapter: describeAdapter(adapter) };
  }
  throw new CsncError(
    RuntimeCodes.noAdapter,
    "no WebGPU adapter: install a GPU driver, or Debian's chromium and libvulkan1 (SwiftShader), or Mesa's libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri (llvmpipe)",
  );
}

async function browserDevice(): Promise<{ device: GPUDevice; adapter: string }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu)
    throw new CsncError(RuntimeCodes.noAdapter, "this browser has no WebGPU (navigator.gpu)");
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new CsncError(RuntimeCodes.noAdapter, "navigator.gpu offered no adapter");
  return { device: await requestDevice(adapter), adapter: describeAdapter(adapter) };
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

/** The `load` function of a generated module, bound to its plan. */
export function createLoader(plan: Plan, baseInfo: ModelInfo) {
  return async function load(options: LoadOptions): Promise<LoadedModel> {
    const bytes = await readWeights(options.weights);
    const tensors = readSafetensors(
      bytes,
      typeof options.weights === "string" ? options.weights : "weights",
    ).tensors;
    const packed = packWeights(
      plan,
      tensors,
      options.naming ?? "csnc",
      typeof options.weights === "string" ? options.weights : "weights",
    );
    const own = options.device
      ? undefined
      : isNode && !(globalThis.navigator as Navigator | undefined)?.gpu
        ? await nodeDevice()
        : await browserDevice();
    const device = options.device ?? own!.device;
    const info: ModelInfo = { ...baseInfo, adapter: own?.adapter ?? "caller's device" };
    const executor: Executor = await createExecutor(device, plan, packed);
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
