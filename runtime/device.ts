// A GPUDevice for running plans: the adapter's largest buffer limits, timestamp queries when
// offered, and device loss and uncaptured errors turned into CsncErrors.
import type { KernelLimits } from "../compiler/kernels/common.js";
import type { Precision } from "../compiler/kernels/format.js";
import { adapterClass, describeIdentity } from "../compiler/kernels/tuning.js";
import { CsncError, RuntimeCodes } from "./errors.js";

/**
 * Half arithmetic (`--precision f16`) needs the shader-f16 feature; f16 storage, the same bytes,
 * runs everywhere. Checked before any kernel is built (sessions, the tuner).
 */
export function checkPrecision(device: GPUDevice, precision: Precision): void {
  if (precision === "f16" && !device.features.has("shader-f16"))
    throw new CsncError(
      RuntimeCodes.missingFeature,
      "--precision f16 needs an adapter with the shader-f16 feature, and this one has none: --precision f16-storage stores the same halves on every adapter, with float32 arithmetic",
    );
}

/** vendor / architecture / device / description, for humans. */
export function describeAdapter(a: GPUAdapter): string {
  return describeIdentity(a.info);
}

/** Whether the adapter runs on the CPU (SwiftShader, llvmpipe, lavapipe, softpipe). */
export function isCpuAdapter(a: GPUAdapter): boolean {
  return adapterClass(a.info) !== "gpu";
}

export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query")
    ? ["timestamp-query"]
    : [];
  // The subgroup kernel variants are candidates only where the device has the feature.
  if (adapter.features.has("subgroups")) requiredFeatures.push("subgroups");
  // So are the half-arithmetic kernels (--precision f16).
  if (adapter.features.has("shader-f16")) requiredFeatures.push("shader-f16");
  try {
    return await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxTextureDimension2D: l.maxTextureDimension2D,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
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
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    subgroups: device.features.has("subgroups"),
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
  let result: T;
  // Both scopes are popped before any await, so an overlapping guarded call cannot take them,
  // and also when f throws.
  const pop = () => Promise.all([device.popErrorScope(), device.popErrorScope()]);
  try {
    result = f();
  } catch (e) {
    await pop();
    throw e;
  }
  const [validation, oom] = await pop();
  if (oom)
    throw new CsncError(
      RuntimeCodes.outOfMemory,
      `out of GPU memory while ${what}: ${oom.message}. Use a smaller --input or --batch.`,
    );
  if (validation)
    throw new CsncError(RuntimeCodes.gpuError, `WebGPU rejected ${what}: ${validation.message}`);
  return result;
}
