// Choosing a WebGPU adapter in Node through the `webgpu` package (Dawn). In order of speed: a
// real GPU (Vulkan with the system's drivers), Mesa llvmpipe (OpenGL ES, compatibility mode;
// 10.6-12.3x faster than SwiftShader on ir-CSN-50 in BENCHMARKS.md, 2026-12-01), SwiftShader (Vulkan on the
// CPU, from Debian's chromium: full core WebGPU, timestamp queries). Never anything that is
// not WebGPU.
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describeAdapter, isCpuAdapter } from "./device.js";
import { icdDirs, swiftshaderIcd, type Backend } from "./backends.js";
import { CsncError, RuntimeCodes } from "./errors.js";

export { describeAdapter };

export { backends, type Backend } from "./backends.js";

export interface AcquiredAdapter {
  readonly adapter: GPUAdapter;
  readonly backend: Exclude<Backend, "auto" | "llvmpipe" | "gpu">;
  /** vendor, architecture, device and description, for humans. */
  readonly description: string;
}

// Mesa's lavapipe is too old for Dawn here; probing it only prints warnings.
function hasGpuVulkanDriver(): boolean {
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return true;
  return icdDirs.some(
    (dir) =>
      existsSync(dir) &&
      readdirSync(dir).some((f) => f.endsWith(".json") && !/lvp|lavapipe/i.test(f)),
  );
}

type Create = (flags: string[]) => GPU;

// Dawn destroys its instance when the GPU object is collected, taking every adapter and device
// made from it down (a native crash). Instances therefore live as long as the process.
const instances: GPU[] = [];

async function loadDawn(): Promise<Create> {
  try {
    const mod = (await import("webgpu")) as unknown as { create: Create; globals: object };
    Object.assign(globalThis, mod.globals);
    return mod.create;
  } catch (e) {
    throw new CsncError(
      RuntimeCodes.noAdapter,
      `the 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message}. Run 'npm ci' in the csnc folder.`,
    );
  }
}

async function tryVulkan(create: Create, icd?: string): Promise<GPUAdapter | undefined> {
  if (icd) {
    if (!existsSync(icd)) return undefined;
    process.env.VK_ICD_FILENAMES = icd;
  } else if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
    // Dawn rejects Mesa's lavapipe here, loudly; the loader need not offer it.
    const disabled = process.env.VK_LOADER_DRIVERS_DISABLE;
    process.env.VK_LOADER_DRIVERS_DISABLE = disabled ? `${disabled},*lvp*` : "*lvp*";
  }
  // Dawn rounds timestamps to 65.5 us unless told otherwise; profiles need the real values.
  const gpu = create(["backend=vulkan", "disable-dawn-features=timestamp_quantization"]);
  instances.push(gpu);
  return (await gpu.requestAdapter({ powerPreference: "high-performance" })) ?? undefined;
}

async function tryOpenGles(create: Create): Promise<GPUAdapter | undefined> {
  process.env.EGL_PLATFORM ??= "surfaceless";
  const gpu = create(["backend=opengles"]);
  instances.push(gpu);
  return (
    (await gpu.requestAdapter({ featureLevel: "compatibility" } as GPURequestAdapterOptions)) ??
    undefined
  );
}

/** Finds the best adapter, or the one `backend` names; throws a CsncError saying what to install. */
export async function acquireAdapter(backend: Backend = "auto"): Promise<AcquiredAdapter> {
  if (!process.env.XDG_RUNTIME_DIR) {
    // Silences Mesa's warnings; best effort. Not recursive: Node's recursive mkdir spins
    // forever when TMPDIR lies under /proc.
    const dir = path.join(tmpdir(), `csnc-xdg-${process.getuid?.() ?? 0}`);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch {
      // EEXIST is fine; any other failure only leaves Mesa's warnings in.
    }
    if (existsSync(dir)) process.env.XDG_RUNTIME_DIR = dir;
  }
  const create = await loadDawn();
  const tried: string[] = [];
  const done = (adapter: GPUAdapter, b: AcquiredAdapter["backend"]): AcquiredAdapter => ({
    adapter,
    backend: b,
    description: describeAdapter(adapter),
  });

  if (backend === "auto" || backend === "gpu" || backend === "vulkan") {
    if (backend !== "auto" || hasGpuVulkanDriver()) {
      const a = await tryVulkan(create);
      if (a && (backend === "vulkan" || !isCpuAdapter(a))) return done(a, "vulkan");
      tried.push(
        a
          ? `Vulkan found only a CPU adapter (${describeAdapter(a)})`
          : "Vulkan found no GPU driver",
      );
    } else tried.push("no Vulkan GPU driver is installed");
    if (backend === "gpu" || backend === "vulkan") {
      throw new CsncError(
        RuntimeCodes.noAdapter,
        `no GPU adapter: ${tried.join("; ")}. Install the GPU's Vulkan driver, or use --backend swiftshader or opengles.`,
      );
    }
  }
  const llvmpipe = async () => {
    const a = await tryOpenGles(create);
    if (a) return done(a, "opengles");
    tried.push(
      "OpenGL ES found no adapter (apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)",
    );
    return undefined;
  };
  const swiftshader = async () => {
    const a = await tryVulkan(create, swiftshaderIcd);
    if (a) return done(a, "swiftshader");
    tried.push(
      `SwiftShader is not available (${swiftshaderIcd} missing: apt-get install chromium libvulkan1)`,
    );
    return undefined;
  };
  const order =
    backend === "swiftshader"
      ? [swiftshader]
      : backend === "auto"
        ? [llvmpipe, swiftshader]
        : [llvmpipe];
  for (const next of order) {
    const a = await next();
    if (a) return a;
  }
  throw new CsncError(
    RuntimeCodes.noAdapter,
    backend === "auto"
      ? `no WebGPU adapter could be found: ${tried.join("; ")}.`
      : `no ${backend === "swiftshader" ? "SwiftShader" : "llvmpipe (OpenGL ES)"} adapter: ${tried.at(-1)}`,
  );
}
