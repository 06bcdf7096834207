// WebGPU in Node through the `webgpu` package (Dawn): the one adapter choice of the CLI and of
// generated modules. In order of speed: a real GPU (Vulkan with the system's drivers), Mesa
// llvmpipe (OpenGL ES, compatibility mode; 10.6-12.3x faster than SwiftShader on ir-CSN-50 in
// BENCHMARKS.md, 2026-12-01), SwiftShader (Vulkan on the CPU, from Debian's chromium: full core
// WebGPU, timestamp queries). Never anything that is not WebGPU. Every `node:` import is dynamic,
// so that a bundle for browsers and Node (the module runtime) never reaches one in a browser.
import { backends, icdDirs, swiftshaderIcd, type Backend } from "./backends.js";
import { describeAdapter, isCpuAdapter } from "./device.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import type { WebGpuPackage } from "./module/types.js";

export { backends, type Backend } from "./backends.js";

export interface AcquiredAdapter {
  readonly adapter: GPUAdapter;
  readonly backend: "vulkan" | "swiftshader" | "opengles";
  /** vendor, architecture, device and description, for humans. */
  readonly description: string;
  /** On OpenGL ES: the LP_NUM_THREADS llvmpipe was made with (csnc's or the user's); absent
   * where Mesa chose (one CPU). */
  readonly llvmpipeThreads?: string;
}

export type { WebGpuPackage };

export interface AcquireOptions {
  /** The `webgpu` package, when the caller cannot let it be imported from here. */
  readonly webgpu?: WebGpuPackage;
  /** How the caller names a backend choice in hints: `--backend opengles`, `backend "opengles"`. */
  readonly backendHint?: (name: string) => string;
  /** A generated module asks (its user installs `webgpu`), not csnc itself (`npm ci` does). */
  readonly forModule?: boolean;
  /**
   * Dawn toggles to enable on the instance, e.g. `disable_workgroup_init` (csnc's kernels
   * never read workgroup memory before writing it) or `skip_validation` (unsafe: only for
   * measuring). Benchmarks measure each (BENCHMARKS.md); nothing enables them by default.
   */
  readonly toggles?: readonly string[];
}

type NodeModules = Awaited<ReturnType<typeof nodeModules>>;

async function nodeModules() {
  const [fs, os, path, module, url] = await Promise.all([
    import(/* @vite-ignore */ "node:fs"),
    import(/* @vite-ignore */ "node:os"),
    import(/* @vite-ignore */ "node:path"),
    import(/* @vite-ignore */ "node:module"),
    import(/* @vite-ignore */ "node:url"),
  ]);
  return { fs, os, path, module, url };
}

function isNotFound(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return (
    (err?.code === "ERR_MODULE_NOT_FOUND" || err?.code === "MODULE_NOT_FOUND") &&
    /['"]webgpu['"]/.test(err.message)
  );
}

// `import("webgpu")` resolves from this file's folder, which is rarely a generated module's
// app's: the package is looked for here, then in the working directory and the main script's.
async function importDawn(node: NodeModules, o: AcquireOptions): Promise<WebGpuPackage> {
  if (o.webgpu) {
    if (typeof o.webgpu.create !== "function")
      throw new CsncError(
        RuntimeCodes.noAdapter,
        "load({ webgpu }) expects the 'webgpu' package's namespace: webgpu: await import(\"webgpu\")",
      );
    return o.webgpu;
  }
  const { path, url } = node;
  const here = import.meta.url.startsWith("file:")
    ? path.dirname(url.fileURLToPath(import.meta.url))
    : undefined;
  try {
    return (await import(/* @vite-ignore */ "webgpu")) as WebGpuPackage;
  } catch (e) {
    if (!isNotFound(e))
      throw new CsncError(
        RuntimeCodes.noAdapter,
        o.forModule
          ? `the 'webgpu' package was found beside the module${here ? ` (${here})` : ""} but failed to load: ${(e as Error).message}`
          : `the 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message}. Run 'npm ci' in the csnc folder.`,
      );
  }
  const dirs = [process.cwd(), process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : ""];
  const looked = here ? [here] : [];
  for (const dir of dirs.filter((d, i) => d && dirs.indexOf(d) === i && d !== here)) {
    looked.push(dir);
    let file: string;
    try {
      file = node.module.createRequire(path.join(dir, "csnc-resolve.js")).resolve("webgpu");
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
    o.forModule
      ? `the generated module needs the 'webgpu' package in Node: run \`npm install webgpu\` in your app (looked from ${looked.join(", ")} and their parent folders), or pass load({ webgpu: await import("webgpu") }) or load({ device })`
      : `the 'webgpu' package (Dawn) could not be found from ${looked.join(", ")}. Run 'npm ci' in the csnc folder.`,
  );
}

/** Mesa wants a private runtime folder; without one it only complains. Best effort. */
function ensureXdgRuntimeDir({ fs, os, path }: NodeModules): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = path.join(os.tmpdir(), `csnc-xdg-${process.getuid?.() ?? 0}`);
  // Not recursive: Node's recursive mkdir spins forever when TMPDIR lies under /proc.
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch {
    // EEXIST is fine; any other failure only leaves Mesa's warnings in.
  }
  if (fs.existsSync(dir)) process.env.XDG_RUNTIME_DIR = dir;
}

/**
 * llvmpipe makes a rasterizer and a compute thread per CPU (at most 32; none with one CPU: it
 * then runs inline). On a 2-core machine ir-CSN-50 had streaks of runs with a core partly
 * idle: p90 233-246 ms against 183-186 ms with twice as many threads as CPUs, the medians
 * alike (BENCHMARKS.md, 2026-12-02, the only machine measured). So twice the CPUs, within
 * Mesa's cap, which never lowers its default; one CPU is left as Mesa runs it, and a user's
 * LP_NUM_THREADS wins. The value to set, or undefined where the user's or Mesa's own stands;
 * Mesa reads it when the adapter is requested (withEnv).
 */
function llvmpipeThreads({ os }: NodeModules): string | undefined {
  const cpus = os.availableParallelism();
  return process.env.LP_NUM_THREADS === undefined && cpus >= 2
    ? String(Math.min(32, 2 * cpus))
    : undefined;
}

/**
 * Runs `f` with the variables of `changes` that are defined set, then puts the environment
 * back: drivers read these when an adapter is made, and neither later acquisitions nor child
 * processes should inherit csnc's choices.
 */
async function withEnv<T>(changes: Record<string, string | undefined>, f: () => Promise<T>) {
  const saved = Object.keys(changes).map((k) => [k, process.env[k]] as const);
  for (const [k, v] of Object.entries(changes)) if (v !== undefined) process.env[k] = v;
  try {
    return await f();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Finds the best adapter, or the one `backend` names; throws a CsncError saying what to install. */
export async function acquireAdapter(
  backend: Backend = "auto",
  o: AcquireOptions = {},
): Promise<AcquiredAdapter> {
  // A JavaScript caller's typo must not quietly mean auto.
  if (!backends.includes(backend))
    throw new CsncError(
      RuntimeCodes.badInput,
      `backend must be one of ${backends.join(", ")}, got '${String(backend)}'`,
    );
  const node = await nodeModules();
  const { fs } = node;
  ensureXdgRuntimeDir(node);
  const webgpu = await importDawn(node, o);
  if (webgpu.globals) Object.assign(globalThis, webgpu.globals);
  // Dawn destroys its instance when the GPU object is collected, taking every adapter and
  // device made from it down (a native crash): instances live as long as the process, shared
  // by every copy of this code (the CLI's and each generated module's).
  const g = globalThis as unknown as { __csncGpus?: GPU[] };
  const instances = (g.__csncGpus ??= []);
  const hint = o.backendHint ?? ((name: string) => `--backend ${name}`);
  const enabled = o.toggles?.length ? [`enable-dawn-features=${o.toggles.join(",")}`] : [];

  const vulkan = async (icd?: string) => {
    if (icd && !fs.existsSync(icd)) return undefined;
    const env: Record<string, string | undefined> = {};
    if (icd) env.VK_ICD_FILENAMES = icd;
    else if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
      // Dawn rejects Mesa's lavapipe here, loudly; the loader need not offer it.
      const disabled = process.env.VK_LOADER_DRIVERS_DISABLE;
      env.VK_LOADER_DRIVERS_DISABLE = disabled ? `${disabled},*lvp*` : "*lvp*";
    }
    // The loader reads them now; later acquisitions in this process may want another driver.
    return withEnv(env, async () => {
      // Dawn rounds timestamps to 65.5 us unless told otherwise; profiles need the real values.
      // Dawn offers shader-f16 on NVIDIA's Vulkan driver only with this toggle (--precision f16).
      const toggles = ["vulkan_enable_f16_on_nvidia", ...(o.toggles ?? [])];
      const gpu = webgpu.create([
        "backend=vulkan",
        "disable-dawn-features=timestamp_quantization",
        `enable-dawn-features=${toggles.join(",")}`,
      ]);
      instances.push(gpu);
      return (await gpu.requestAdapter({ powerPreference: "high-performance" })) ?? undefined;
    });
  };
  let llvmpipeThreadsUsed: string | undefined;
  const opengles = async () => {
    process.env.EGL_PLATFORM ??= "surfaceless";
    const chosen = llvmpipeThreads(node);
    llvmpipeThreadsUsed = process.env.LP_NUM_THREADS ?? chosen;
    const adapter = await withEnv({ LP_NUM_THREADS: chosen }, () => {
      const gpu = webgpu.create(["backend=opengles", ...enabled]);
      instances.push(gpu);
      return gpu.requestAdapter({ featureLevel: "compatibility" } as GPURequestAdapterOptions);
    });
    return adapter ?? undefined;
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
  // prints the loader's complaints into stderr (csnc's CLI filters them, a module cannot).
  const gpuDevice = () =>
    process.platform !== "linux" ||
    fs.existsSync("/dev/dxg") ||
    (fs.existsSync("/dev/dri") && fs.readdirSync("/dev/dri").some((f) => f.startsWith("render"))) ||
    fs.readdirSync("/dev").some((f) => /^nvidia\d/.test(f));
  const done = (adapter: GPUAdapter, b: AcquiredAdapter["backend"]): AcquiredAdapter => ({
    adapter,
    backend: b,
    description: describeAdapter(adapter),
    ...(b === "opengles" && { llvmpipeThreads: llvmpipeThreadsUsed }),
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
        `no GPU adapter: ${tried.join("; ")}. Install the GPU's Vulkan driver, or use ${hint("swiftshader")} or ${hint("opengles")}.`,
      );
  }
  if (backend !== "swiftshader") {
    const a = await opengles();
    if (a) return done(a, "opengles");
    tried.push(
      "OpenGL ES found no adapter (apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)",
    );
    if (backend !== "auto")
      throw new CsncError(
        RuntimeCodes.noAdapter,
        `no llvmpipe (OpenGL ES) adapter: ${tried.at(-1)}`,
      );
  }
  const a = await vulkan(swiftshaderIcd);
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
