// A GPUDevice for running plans: the adapter's largest buffer limits, timestamp queries when
// offered, and device loss and uncaptured errors turned into CsncErrors.
import type { KernelLimits } from "../compiler/kernels/common.js";
import type { Tuning } from "../compiler/kernels/select.js";
import { CsncError, RuntimeCodes } from "./errors.js";

/** vendor / architecture / device / description, for humans. */
export function describeAdapter(a: GPUAdapter): string {
  const i = a.info;
  return [i.vendor, i.architecture, i.device, i.description].filter((x) => x).join(" / ");
}

/** Whether the adapter runs on the CPU (SwiftShader, llvmpipe, lavapipe, softpipe). */
export function isCpuAdapter(a: GPUAdapter): boolean {
  return (
    a.info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|softpipe/i.test(describeAdapter(a))
  );
}

export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query")
    ? ["timestamp-query"]
    : [];
  try {
    return await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxTextureDimension2D: l.maxTextureDimension2D,
      },
    });
  } catch (e) {
    throw new CsncError(
      RuntimeCodes.gpuError,
      `the adapter refused a device: ${(e as Error).message}`,
    );
  }
}

export function kernelLimits(device: GPUDevice): KernelLimits {
  const l = device.limits;
  return {
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxTextureDimension2D: l.maxTextureDimension2D,
  };
}

/**
 * Runs the synchronous `f` inside error scopes and turns a validation or out-of-memory error
 * into a CsncError. Only synchronous work goes inside: Dawn's Node binding breaks when an
 * asynchronous call (createComputePipelineAsync, mapAsync) is awaited within a scope.
 */
export async function guarded<T>(device: GPUDevice, what: string, f: () => T): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const result = f();
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (oom)
    throw new CsncError(
      RuntimeCodes.outOfMemory,
      `out of GPU memory while ${what}: ${oom.message}. Use a smaller --input or --batch.`,
    );
  if (validation)
    throw new CsncError(RuntimeCodes.gpuError, `WebGPU rejected ${what}: ${validation.message}`);
  return result;
}

/** Kernel tuning for an adapter: CPU adapters want few, large invocations; GPUs many. */
// Tile sizes per adapter, from `npm run bench:kernels` and `npm run bench` (BENCHMARKS.md):
// llvmpipe runs the largest tiles fastest (on storage buffers, pointwise 32x8 about 5x the
// GFLOP/s of 4x2 and the stem's 56 outputs x 8 vec4 channel groups about 7x one output group;
// with 7x7 depthwise output tiles instead of 2x7, the slowest of res4's depthwise convs went
// from 5.7-7.6x to 11.2-14x the naive kernel in the model, in two of three runs); SwiftShader
// takes minutes to compile those and gains little.
export function tuningFor(adapter: GPUAdapter): Tuning {
  if (/swiftshader/i.test(describeAdapter(adapter)))
    return {
      minInvocations: 256,
      maxTileArea: 16,
      directTile: { tw: 4, cot: 4 },
      depthwiseTile: { th: 1, tw: 4 },
    };
  if (isCpuAdapter(adapter)) {
    return {
      minInvocations: 128,
      maxTileArea: 128,
      directTile: { tw: 56, cot: 8 },
      depthwiseTile: { th: 7, tw: 7 },
      textures: true,
    };
  }
  return {
    minInvocations: 16384,
    maxTileArea: 8,
    directTile: { tw: 4, cot: 2 },
    depthwiseTile: { th: 1, tw: 2 },
  };
}
